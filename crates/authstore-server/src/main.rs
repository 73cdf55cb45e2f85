//! The `authstore` binary (being written).

fn main() {}
