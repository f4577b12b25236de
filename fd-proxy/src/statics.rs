//! Serving a built page (`--static-dir`), as a single-page app: a GET or HEAD of a path that is
//! not a file gets `index.html` with 200, so client-side routes such as /login load the app.

use std::path::Path;

use axum::{
    routing::{any, MethodRouter},
    Router,
};
use tower_http::services::{ServeDir, ServeFile};

/// The file service: files of `dir`, else its index.html. Only GET and HEAD are served; other
/// methods get 405.
pub fn serve_dir(dir: &Path) -> ServeDir<ServeFile> {
    ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html")))
}

/// Adds JSON 404s for /api and /proxy when they are not mounted, so those paths never fall
/// through to the page's HTML (a client would otherwise try to parse HTML as an API answer).
pub fn reserve_prefix(router: Router, prefix: &str) -> Router {
    let not_found: MethodRouter = any(crate::respond::not_found);
    router
        .route(prefix, not_found.clone())
        .route(&format!("{prefix}/"), not_found.clone())
        .route(&format!("{prefix}/{{*rest}}"), not_found)
}
