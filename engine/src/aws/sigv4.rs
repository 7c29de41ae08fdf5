//! Verifies AWS Signature Version 4 on requests to the endpoint, as AWS does
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>): the
//! canonical request (method, path, sorted query, the signed headers, the payload's
//! SHA-256), the string to sign, and the signing key derived from the secret, the date,
//! the region and the service.

use axum::http::{HeaderMap, Method, Uri};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The parts of a SigV4 `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id.
    pub access_key_id: String,
    /// `YYYYMMDD`.
    pub date: String,
    /// The region of the credential scope.
    pub region: String,
    /// The service of the credential scope (`kinesis`, `firehose`).
    pub service: String,
    /// The signed header names, lowercase, in order.
    pub signed_headers: Vec<String>,
    /// The signature, lowercase hex.
    pub signature: String,
}

/// Parses `AWS4-HMAC-SHA256 Credential=…/…/…/…/aws4_request, SignedHeaders=…, Signature=…`.
pub fn parse(header: &str) -> Option<Authorization> {
    let rest = header.trim().strip_prefix("AWS4-HMAC-SHA256")?.trim();
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let mut scope = credential?.split('/');
    let access_key_id = scope.next()?.to_owned();
    let date = scope.next()?.to_owned();
    let region = scope.next()?.to_owned();
    let service = scope.next()?.to_owned();
    (scope.next()? == "aws4_request").then_some(())?;
    Some(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed?.split(';').map(str::to_owned).collect(),
        signature: signature?.to_ascii_lowercase(),
    })
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3986 encoding as SigV4 wants it (unreserved characters kept).
fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Decodes `%XX` escapes (the query and path as sent are already encoded).
fn uri_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if let Some(v) = escaped {
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a signature does not hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The signature differs from the one computed with the secret.
    Mismatch,
    /// `X-Amz-Date` is missing or more than 15 minutes from now.
    Expired(String),
}

/// Checks `auth` over the request with `secret`: the date within 15 minutes of now,
/// and the signature the one computed.
pub fn verify(
    auth: &Authorization,
    secret: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Refusal> {
    let amz_date = amz_date(headers);
    let when = chrono::NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ").map_err(|_| {
        Refusal::Expired(format!("X-Amz-Date '{amz_date}' is not YYYYMMDDTHHMMSSZ"))
    })?;
    let skew = (chrono::Utc::now().naive_utc() - when).num_seconds().abs();
    if skew > 15 * 60 {
        return Err(Refusal::Expired(format!(
            "Signature expired: {amz_date} is more than 15 minutes from now ({})",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        )));
    }
    if signature(auth, secret, method, uri, headers, body) == auth.signature {
        Ok(())
    } else {
        Err(Refusal::Mismatch)
    }
}

fn amz_date(headers: &HeaderMap) -> &str {
    headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The signature of the request with `secret`, as the client should have computed it.
pub fn signature(
    auth: &Authorization,
    secret: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> String {
    let path = uri.path();
    let canonical_path = if path.is_empty() {
        "/".to_owned()
    } else {
        uri_encode(&uri_decode(path), true)
    };
    let mut query: Vec<(String, String)> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&uri_decode(k), false),
                uri_encode(&uri_decode(v), false),
            )
        })
        .collect();
    query.sort();
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let values: Vec<String> = headers
            .get_all(name.as_str())
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let payload = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| hex(&Sha256::digest(body)));
    let canonical = format!(
        "{}\n{canonical_path}\n{canonical_query}\n{canonical_headers}\n{}\n{payload}",
        method.as_str(),
        auth.signed_headers.join(";")
    );
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        amz_date(headers),
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    for part in [auth.region.as_str(), auth.service.as_str(), "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    hex(&hmac(&key, to_sign.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's own worked example (IAM user guide, "Create a signed AWS API request": the
    /// GET of IAM ListUsers signed with the documentation's example secret).
    #[test]
    fn the_aws_documentation_example_signs_as_documented() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
        let auth = parse(header).unwrap();
        assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
        assert_eq!(
            (auth.region.as_str(), auth.service.as_str()),
            ("us-east-1", "iam")
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let uri: Uri = "/?Action=ListUsers&Version=2010-05-08".parse().unwrap();
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        assert_eq!(
            signature(&auth, secret, &Method::GET, &uri, &headers, b""),
            auth.signature
        );
        assert_ne!(
            signature(&auth, "another", &Method::GET, &uri, &headers, b""),
            auth.signature
        );
        // Signed in 2015: too old to be taken now.
        let r = verify(&auth, secret, &Method::GET, &uri, &headers, b"");
        assert!(matches!(r, Err(Refusal::Expired(_))), "{r:?}");
        assert_eq!(parse("Bearer x"), None);
    }
}
