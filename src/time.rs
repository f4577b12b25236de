//! The clock. `Date.now()`, so that a page's fake clock (Playwright's `page.clock`) reaches us too.

pub fn now() -> f64 {
    js_sys::Date::now()
}
