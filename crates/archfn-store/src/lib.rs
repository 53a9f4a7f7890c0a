//! archfn-store
