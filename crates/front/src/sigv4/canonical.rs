//! SigV4's canonical forms: URI encoding of paths and queries, header value folding.

/// URI-encodes one path segment or query component the SigV4 way (RFC 3986 unreserved kept).
fn uri_encode(input: &str, out: &mut String) {
    for byte in input.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// Decodes `%XX` escapes (a malformed escape stays as it is).
pub(super) fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The sorted, re-encoded query string; without `X-Amz-Signature` for presigned requests.
pub(super) fn canonical_query(query: &str, skip_signature: bool) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let key = percent_decode(k);
            if skip_signature && key == "X-Amz-Signature" {
                return None;
            }
            let (mut ek, mut ev) = (String::new(), String::new());
            uri_encode(&key, &mut ek);
            uri_encode(&percent_decode(v), &mut ev);
            Some((ek, ev))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

pub(super) fn canonical_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        uri_encode(&percent_decode(segment), &mut out);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Collapses runs of spaces and trims, as SigV4's canonical header values require.
pub(super) fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}
