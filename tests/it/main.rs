//! Integration tests (HTTP through the real router, both databases).
