//! archfn-sigv4
