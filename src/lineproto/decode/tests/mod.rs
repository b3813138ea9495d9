//! Unit tests of the decoder's internals (the public behaviour is tested in `tests/`): one file
//! per part of the module.

mod cache;
mod fields;
mod shape;
