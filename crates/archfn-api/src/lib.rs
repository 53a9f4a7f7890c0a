//! archfn-api
