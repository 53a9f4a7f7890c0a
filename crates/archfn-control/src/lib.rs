//! archfn-control
