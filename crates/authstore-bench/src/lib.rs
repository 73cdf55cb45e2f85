//! Benchmarks of authstore against peers (see benches/).
