//! ordergate
pub mod bus;
pub mod model;
