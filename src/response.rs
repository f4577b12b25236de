//! How a response is sorted: what `fd` makes of its status and content type.

/// What a response status means to `fd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: the body is the result.
    Success,
    /// 401: the session is dead.
    Unauthorized,
    /// Anything else: an `http` error carrying status and body.
    Failure,
}

pub fn outcome(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Success,
        401 => Outcome::Unauthorized,
        _ => Outcome::Failure,
    }
}

/// How a 2xx body is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// 204 and 205 have no body: `null` without reading.
    None,
    /// Parsed as JSON (an empty one gives `null`; one that does not parse is `bad_response`).
    Json,
    /// Returned as text (an empty one gives `null`).
    Text,
}

pub fn body_kind(status: u16, content_type: Option<&str>) -> Body {
    if status == 204 || status == 205 {
        Body::None
    } else if content_type.is_some_and(is_json) {
        Body::Json
    } else {
        Body::Text
    }
}

/// `application/json`, `text/json` and any `+json` type, parameters and case ignored.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence == "text/json"
        || (essence.ends_with("+json") && essence.contains('/'))
}

/// Refresh answers that mean the refresh token is dead: the session ends.
pub fn refresh_is_fatal(status: u16) -> bool {
    matches!(status, 400 | 401 | 403)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_sort_into_outcomes() {
        for s in [200, 201, 204, 206, 299] {
            assert_eq!(outcome(s), Outcome::Success, "{s}");
        }
        assert_eq!(outcome(401), Outcome::Unauthorized);
        for s in [0, 199, 300, 304, 400, 403, 404, 429, 500, 503] {
            assert_eq!(outcome(s), Outcome::Failure, "{s}");
        }
    }

    #[test]
    fn bodies_sort_by_status_and_content_type() {
        assert_eq!(body_kind(204, Some("application/json")), Body::None);
        assert_eq!(body_kind(205, None), Body::None);
        for ct in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            " application/json ;x=y",
            "application/problem+json",
            "application/vnd.api+json",
            "text/json",
        ] {
            assert_eq!(body_kind(200, Some(ct)), Body::Json, "{ct}");
        }
        for ct in [
            None,
            Some("text/plain"),
            Some("text/html"),
            Some("application/jsonp"),
            Some("+json"),
            Some(""),
        ] {
            assert_eq!(body_kind(200, ct), Body::Text, "{ct:?}");
        }
    }

    #[test]
    fn only_400_401_403_kill_a_refresh() {
        for s in [400, 401, 403] {
            assert!(refresh_is_fatal(s));
        }
        for s in [0, 404, 408, 429, 500, 502, 503, 504] {
            assert!(!refresh_is_fatal(s), "{s}");
        }
    }
}
