#![recursion_limit = "512"]
//! Browser entry point. Mailward's pages are server HTML; only their islands (`#[island]` in
//! `app`: the confirmation dialogs, dismissable flashes, copy buttons) are hydrated. The
//! island script calls `hydrate`, then each island's own export.
use wasm_bindgen::prelude::wasm_bindgen;

// The islands live in `app`; naming the crate keeps its exports in this cdylib.
pub use app::ui as islands;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
