//! ordergate
pub mod mapping;
pub mod model;
pub mod normalize;
