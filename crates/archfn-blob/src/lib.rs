//! archfn-blob
