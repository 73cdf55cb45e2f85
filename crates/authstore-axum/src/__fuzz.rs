//! Entry points for the fuzz targets (feature `fuzzing`): the session cookie codec behind plain signatures. Not part of the API; nothing here is stable.

use authstore::csrf::KeyRing;
use http::HeaderMap;

/// The value of cookie `name` in the request's `Cookie` headers (the first one).
pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    crate::session::cookie::read_cookie(headers, name)
}

/// The session cookie's value for the raw id: signed when a key ring is given.
pub fn encode_id(ring: Option<&KeyRing>, id: &str) -> Option<String> {
    crate::session::cookie::encode_id(ring, id)
}

/// The raw id in a session cookie's value, if its signature (when a key ring is given) is valid.
pub fn decode_id<'a>(ring: Option<&KeyRing>, value: &'a str) -> Option<&'a str> {
    crate::session::cookie::decode_id(ring, value)
}
