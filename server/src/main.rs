// jemalloc, not glibc's malloc: measured on the pages (release, 2 cores, 500 domains, same
// binary with each allocator preloaded), glibc's malloc and free were about a quarter of the
// server's CPU under load; jemalloc answered 20–40 % more requests a second at 8 connections.
// A speed choice: anonymous memory varied from run to run with either. See README Benchmarks.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    server::cli::main()
}
