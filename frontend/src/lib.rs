#![recursion_limit = "512"]
//! Browser entry point: hydrates the server-rendered Mailward pages.
use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
