//! Routing by series: the owner function, the flat batch that crosses cores, and the schema
//! registry that keeps field types identical on every core.
pub mod batch;
pub mod cardinality;
pub mod key;
pub mod schema;
