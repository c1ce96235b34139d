// `sqlx::migrate!` embeds the migration files at compile time, but cargo does not know they
// are inputs: without this, a new migration is left out of the next build (seen: 0038 missing
// from a binary built after it was added).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
