//! HTTPS listeners' TLS (rustls): a server configuration per listener, built from the ACM
//! certificate it names and the TLS versions of its security policy, kept current as the
//! records change or the certificate is re-imported; each new connection takes the current one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use flotilla_elbv2::attributes::HTTP2;
use flotilla_elbv2::model::{security_policy, State, TlsVersions};
use flotilla_elbv2::App;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// What a listener's configuration was built from: (certificate ARN, policy, certificate
/// version, HTTP/2 offered).
type Source = (String, String, u64, bool);

/// The HTTPS listeners' acceptors, by listener ARN.
#[derive(Default)]
pub struct Acceptors {
    by_listener: RwLock<HashMap<String, (Source, TlsAcceptor)>>,
}

impl Acceptors {
    /// The acceptor of an HTTPS listener (`None`: the listener speaks plain HTTP).
    pub fn get(&self, listener_arn: &str) -> Option<TlsAcceptor> {
        let by_listener = self.by_listener.read().unwrap_or_else(|e| e.into_inner());
        by_listener.get(listener_arn).map(|(_, acceptor)| acceptor.clone())
    }

    /// Builds what changed; answers, per load balancer, why an HTTPS listener cannot serve.
    pub fn refresh(&self, app: &App, state: &State) -> HashMap<String, String> {
        let mut failed = HashMap::new();
        let mut next: HashMap<String, (Source, TlsAcceptor)> = HashMap::new();
        let current = self.by_listener.read().unwrap_or_else(|e| e.into_inner()).clone();
        for listener in state.listeners.values() {
            let Some(tls) = &listener.tls else { continue };
            let Some(certificate) = app.certificates.certificate(&tls.certificate_arn) else {
                failed.insert(
                    listener.load_balancer_arn.clone(),
                    format!("certificate {} no longer exists", tls.certificate_arn),
                );
                continue;
            };
            // ALB offers HTTP/2 to clients (ALPN) unless `routing.http2.enabled` is false.
            let http2 = state
                .load_balancers
                .get(&listener.load_balancer_arn)
                .is_none_or(|lb| lb.attributes.get(HTTP2).map(String::as_str) != Some("false"));
            let source = (
                tls.certificate_arn.clone(),
                tls.ssl_policy.clone(),
                certificate.version.to_bits(),
                http2,
            );
            if let Some((built, acceptor)) = current.get(&listener.arn) {
                if *built == source {
                    next.insert(listener.arn.clone(), (source, acceptor.clone()));
                    continue;
                }
            }
            let versions = security_policy(&tls.ssl_policy).unwrap_or(TlsVersions::Tls12And13);
            match acceptor(&certificate.chain, &certificate.private_key, versions, http2) {
                Ok(acceptor) => {
                    next.insert(listener.arn.clone(), (source, acceptor));
                }
                Err(error) => {
                    failed.insert(
                        listener.load_balancer_arn.clone(),
                        format!("certificate {} cannot be served: {error}", tls.certificate_arn),
                    );
                }
            }
        }
        *self.by_listener.write().unwrap_or_else(|e| e.into_inner()) = next;
        failed
    }
}

fn acceptor(
    chain: &str,
    key: &str,
    versions: TlsVersions,
    http2: bool,
) -> Result<TlsAcceptor, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| e.to_string())?;
    let versions: &[&rustls::SupportedProtocolVersion] = match versions {
        TlsVersions::Tls12And13 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersions::Tls13 => &[&rustls::version::TLS13],
    };
    // ring's provider has no post-quantum key exchange (rustls 0.23.48 deprecates it for that):
    // the ELB policies served here do not name one, and aws-lc-rs, which has it, needs cmake
    // and a long C build on these machines. Revisit with the PQ policies.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols =
        if http2 { vec![b"h2".to_vec(), b"http/1.1".to_vec()] } else { vec![b"http/1.1".to_vec()] };
    Ok(TlsAcceptor::from(Arc::new(config)))
}
