//! Runnable examples of the taco libraries; see `snapshot.rs` and `progressive.rs`.
//! This file is empty on purpose: the package exists so Cargo builds and runs the examples.
