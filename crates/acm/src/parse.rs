//! An imported certificate checked as ACM checks it — one PEM certificate, a supported RSA or
//! EC private key that matches it (rustls's check), an optional chain, not expired — and what
//! DescribeCertificate tells of it (x509-parser): names, serial, issuer, validity, algorithms.

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// What DescribeCertificate tells of a certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detail {
    pub domain_name: String,
    pub subject_alternative_names: Vec<String>,
    pub serial: String,
    pub subject: String,
    pub issuer: String,
    pub not_before: f64,
    pub not_after: f64,
    /// `RSA_2048`, `EC_prime256v1`, ...
    pub key_algorithm: String,
    /// `SHA256WITHRSA`, `SHA256WITHECDSA`, ...
    pub signature_algorithm: String,
}

/// Why an import is refused, in ACM's words.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ImportError {
    #[error("The certificate field must contain exactly one PEM certificate")]
    NotOneCertificate,
    #[error("The certificate chain is not PEM certificates")]
    BadChain,
    #[error("The private key is not a PEM RSA or EC private key")]
    BadKey,
    #[error("The private key is not supported: use an RSA or EC (P-256, P-384) key")]
    UnsupportedKey,
    #[error("The private key does not match the public key in the certificate")]
    KeyMismatch,
    #[error("The certificate could not be parsed: {0}")]
    BadCertificate(String),
    #[error("The certificate field contains an expired certificate.")]
    Expired,
}

/// Checks an import (PEM bytes) at `now` (epoch seconds) and describes the certificate.
pub fn check(
    certificate: &[u8],
    private_key: &[u8],
    chain: Option<&[u8]>,
    now: f64,
) -> Result<Detail, ImportError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(certificate)
        .collect::<Result<_, _>>()
        .map_err(|_| ImportError::NotOneCertificate)?;
    let [leaf] = certs.as_slice() else { return Err(ImportError::NotOneCertificate) };
    let mut full_chain = vec![leaf.clone()];
    if let Some(chain) = chain {
        let more: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
            .collect::<Result<_, _>>()
            .map_err(|_| ImportError::BadChain)?;
        if more.is_empty() {
            return Err(ImportError::BadChain);
        }
        full_chain.extend(more);
    }
    let key = PrivateKeyDer::from_pem_slice(private_key).map_err(|_| ImportError::BadKey)?;
    let signing = any_supported_type(&key).map_err(|_| ImportError::UnsupportedKey)?;
    CertifiedKey::new(full_chain, signing).keys_match().map_err(|_| ImportError::KeyMismatch)?;
    let detail = describe(leaf)?;
    if detail.not_after < now {
        return Err(ImportError::Expired);
    }
    Ok(detail)
}

fn describe(der: &CertificateDer<'_>) -> Result<Detail, ImportError> {
    let (_, cert) = X509Certificate::from_der(der.as_ref())
        .map_err(|e| ImportError::BadCertificate(e.to_string()))?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let mut names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(name) => Some(name.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let domain_name = common_name.clone().or_else(|| names.first().cloned()).unwrap_or_default();
    if !names.contains(&domain_name) && !domain_name.is_empty() {
        names.insert(0, domain_name.clone());
    }
    let key_algorithm = match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA_{}", rsa.key_size()),
        Ok(PublicKey::EC(ec)) => match ec.key_size() {
            256 => "EC_prime256v1".into(),
            384 => "EC_secp384r1".into(),
            521 => "EC_secp521r1".into(),
            other => format!("EC_{other}"),
        },
        _ => "UNKNOWN".into(),
    };
    let signature_algorithm = match cert.signature_algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.5" => "SHA1WITHRSA",
        "1.2.840.113549.1.1.11" => "SHA256WITHRSA",
        "1.2.840.113549.1.1.12" => "SHA384WITHRSA",
        "1.2.840.113549.1.1.13" => "SHA512WITHRSA",
        "1.2.840.10045.4.3.2" => "SHA256WITHECDSA",
        "1.2.840.10045.4.3.3" => "SHA384WITHECDSA",
        "1.2.840.10045.4.3.4" => "SHA512WITHECDSA",
        other => other,
    }
    .to_string();
    Ok(Detail {
        domain_name,
        subject_alternative_names: names,
        serial: cert.raw_serial_as_string(),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: cert.validity().not_before.timestamp() as f64,
        not_after: cert.validity().not_after.timestamp() as f64,
        key_algorithm,
        signature_algorithm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Throwaway self-signed certificates made for these tests (openssl, valid until 2125).
    const CERT: &[u8] = include_bytes!("../testdata/cert.pem");
    const KEY: &[u8] = include_bytes!("../testdata/key.pem");
    const OTHER_KEY: &[u8] = include_bytes!("../testdata/other-key.pem");
    const EC_CERT: &[u8] = include_bytes!("../testdata/ec-cert.pem");
    const EC_KEY: &[u8] = include_bytes!("../testdata/ec-key.pem");

    #[test]
    fn an_import_is_described_as_acm_does() {
        let detail = check(CERT, KEY, None, 0.0).expect("a good import");
        assert_eq!(detail.domain_name, "web.example.test");
        assert_eq!(detail.subject_alternative_names, ["web.example.test", "*.example.test"]);
        assert_eq!(detail.key_algorithm, "RSA_2048");
        assert_eq!(detail.signature_algorithm, "SHA256WITHRSA");
        assert!(
            detail.not_after > detail.not_before && detail.subject.contains("web.example.test")
        );
        assert!(!detail.serial.is_empty());
        let ec = check(EC_CERT, EC_KEY, None, 0.0).expect("an EC import");
        assert_eq!(
            (ec.key_algorithm.as_str(), ec.domain_name.as_str()),
            ("EC_prime256v1", "ec.example.test")
        );
        let with_chain = check(CERT, KEY, Some(EC_CERT), 0.0).expect("a chain");
        assert_eq!(with_chain, detail);
    }

    #[test]
    fn bad_imports_are_refused_with_the_reason() {
        assert_eq!(check(CERT, OTHER_KEY, None, 0.0), Err(ImportError::KeyMismatch));
        assert_eq!(check(b"not pem", KEY, None, 0.0), Err(ImportError::NotOneCertificate));
        let two = [CERT, EC_CERT].concat();
        assert_eq!(check(&two, KEY, None, 0.0), Err(ImportError::NotOneCertificate));
        assert_eq!(check(CERT, b"nope", None, 0.0), Err(ImportError::BadKey));
        assert_eq!(check(CERT, KEY, Some(b"junk"), 0.0), Err(ImportError::BadChain));
        assert_eq!(check(CERT, KEY, None, 1e12), Err(ImportError::Expired));
    }
}
