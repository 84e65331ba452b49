//! TLS for `https` targets: which roots to trust, and when the server's certificate expires.
//!
//! ureq does not show the peer's certificate, so a separate handshake with rustls, through a
//! verifier that keeps the end-entity certificate it is shown, reads it; a small DER walk then
//! takes `notAfter` out of it.

use mvk_core::Fail;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where distributions keep their CA bundle, after `$SSL_CERT_FILE`.
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The roots to trust, for ureq's requests and for the certificate probe alike.
pub struct Tls {
    provider: Arc<CryptoProvider>,
    verifier: Arc<WebPkiServerVerifier>,
    ureq: ureq::tls::TlsConfig,
}

impl Tls {
    /// Trusts the CA certificates in `ca_file`, or else the system's bundle.
    pub fn load(ca_file: Option<&Path>) -> Result<Tls, Fail> {
        let (file, certs) = match ca_file {
            Some(file) => (
                file.to_path_buf(),
                read_pem(file).map_err(|e| Fail::usage(format!("--ca-file {e}")))?,
            ),
            None => system_roots()?,
        };
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(certs.iter().cloned());
        if added == 0 {
            return Err(Fail::usage(format!(
                "{}: holds no usable CA certificate",
                file.display()
            )));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| Fail::usage(format!("{}: {e}", file.display())))?;
        let ureq = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::new_with_certs(
                &certs
                    .iter()
                    .map(|c| ureq::tls::Certificate::from_der(c).to_owned())
                    .collect::<Vec<_>>(),
            ))
            .unversioned_rustls_crypto_provider(provider.clone())
            .build();
        Ok(Tls {
            provider,
            verifier,
            ureq,
        })
    }

    /// ureq's TLS settings with these roots.
    pub fn ureq_config(&self) -> &ureq::tls::TlsConfig {
        &self.ureq
    }

    /// Shakes hands with `host:port` and returns when the server certificate expires, as far
    /// as one was shown, and whether it is trusted.
    pub fn probe(&self, host: &str, port: u16, timeout: Duration) -> Probe {
        let recorder = Arc::new(Recorder {
            inner: self.verifier.clone(),
            seen: Mutex::default(),
        });
        let result = self.handshake(host, port, timeout, recorder.clone());
        let expiry = recorder.seen.lock().unwrap().as_deref().map(not_after);
        match (expiry, result) {
            (Some(Ok(not_after)), result) => Probe {
                not_after: Some(not_after),
                error: result.err(),
            },
            (Some(Err(e)), _) => Probe {
                not_after: None,
                error: Some(format!("cannot read the server certificate's expiry: {e}")),
            },
            (None, result) => Probe {
                not_after: None,
                error: Some(
                    result
                        .err()
                        .unwrap_or_else(|| "the server showed no certificate".into()),
                ),
            },
        }
    }

    fn handshake(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
        recorder: Arc<Recorder>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(recorder)
            .with_no_client_auth();
        let name = ServerName::try_from(host.to_string()).map_err(|e| format!("`{host}`: {e}"))?;
        let mut tls = ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host} has no address"))?;
        let mut sock = TcpStream::connect_timeout(&addr, timeout).map_err(io_error)?;
        while tls.is_handshaking() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("timed out".into());
            }
            sock.set_read_timeout(Some(left))
                .and_then(|_| sock.set_write_timeout(Some(left)))
                .map_err(io_error)?;
            tls.complete_io(&mut sock).map_err(|e| {
                match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    Some(tls_error) => format!("TLS handshake: {tls_error}"),
                    None => io_error(e),
                }
            })?;
        }
        tls.send_close_notify();
        let _ = tls.complete_io(&mut sock);
        Ok(())
    }
}

/// What the certificate probe found.
pub struct Probe {
    /// The certificate's `notAfter`, in seconds since the Unix epoch.
    pub not_after: Option<i64>,
    /// Why the handshake failed (untrusted, wrong name, expired, refused, timed out).
    pub error: Option<String>,
}

fn io_error(e: std::io::Error) -> String {
    match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "timed out".into(),
        ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => e.to_string(),
    }
}

fn system_roots() -> Result<(PathBuf, Vec<CertificateDer<'static>>), Fail> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let file = from_env
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Fail::unavailable(
                "tls",
                format!(
                    "no CA bundle found ($SSL_CERT_FILE, {}): install ca-certificates or give --ca-file",
                    SYSTEM_BUNDLES.join(", ")
                ),
            )
        })?;
    let certs = read_pem(&file).map_err(|e| Fail::unavailable("tls", e))?;
    Ok((file, certs))
}

fn read_pem(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let at = file.display();
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| format!("{at}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{at}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{at}: holds no PEM certificate"));
    }
    Ok(certs)
}

/// Keeps the end-entity certificate the server shows, then lets webpki judge it, so the days
/// left are known even for an untrusted or expired certificate.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = Some(end_entity.clone().into_owned());
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Whole days from `now` until `not_after` (both Unix seconds); negative once expired.
pub fn days_left(not_after: i64, now: SystemTime) -> i64 {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    (not_after - now).div_euclid(86_400)
}

/// `notAfter` of an X.509 certificate, in seconds since the Unix epoch.
///
/// Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
/// signature, issuer, validity SEQUENCE { notBefore, notAfter }, … }, … }
pub fn not_after(der: &[u8]) -> Result<i64, String> {
    let (cert, _) = expect(der, SEQUENCE, "certificate")?;
    let (tbs, _) = expect(cert, SEQUENCE, "tbsCertificate")?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    let (_, rest) = expect(rest, INTEGER, "serialNumber")?;
    let (_, rest) = expect(rest, SEQUENCE, "signature")?;
    let (_, rest) = expect(rest, SEQUENCE, "issuer")?;
    let (validity, _) = expect(rest, SEQUENCE, "validity")?;
    let (_, _, after) = tlv(validity)?;
    let (tag, time, _) = tlv(after)?;
    parse_time(tag, time)
}

const INTEGER: u8 = 0x02;
const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

fn expect<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    let (found, content, rest) = tlv(input)?;
    if found != tag {
        return Err(format!(
            "{what}: expected tag {tag:#04x}, found {found:#04x}"
        ));
    }
    Ok((content, rest))
}

/// One DER tag-length-value: (tag, content, what follows).
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let short = || "truncated DER".to_string();
    let (&tag, rest) = input.split_first().ok_or_else(short)?;
    let (&first, rest) = rest.split_first().ok_or_else(short)?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return Err("bad DER length".into());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(short());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// UTCTime `YYMMDDHHMMSSZ` (years 1950–2049) or GeneralizedTime `YYYYMMDDHHMMSSZ`.
fn parse_time(tag: u8, text: &[u8]) -> Result<i64, String> {
    let text = std::str::from_utf8(text).map_err(|_| "time is not text".to_string())?;
    let digits = text
        .strip_suffix('Z')
        .ok_or_else(|| format!("time `{text}` is not in UTC"))?;
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy: i64 = number(&digits[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
        }
        (GENERALIZED_TIME, 14) => (number(&digits[..4])?, &digits[4..]),
        _ => return Err(format!("unexpected time `{text}` (tag {tag:#04x})")),
    };
    let field = |i: usize| number(&rest[i..i + 2]);
    let (month, day, hour, min, sec) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return Err(format!("time `{text}` is out of range"));
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec)
}

fn number(s: &str) -> Result<i64, String> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{s}` is not a number"));
    }
    s.parse().map_err(|_| format!("`{s}` is not a number"))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days N`:
    // notAfter=Feb 24 14:23:18 2027 GMT (UTCTime) …
    const UTC_CERT: &str = include_str!("../testdata/utctime.pem");
    // … and notAfter=Apr 13 14:23:18 2054 GMT (GeneralizedTime, as for years after 2049).
    const GENERALIZED_CERT: &str = include_str!("../testdata/generalizedtime.pem");

    fn der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn reads_not_after_in_both_time_forms() {
        assert_eq!(
            mvk_core::time::rfc3339_secs(not_after(&der(UTC_CERT)).unwrap()),
            "2027-02-24T14:23:18Z"
        );
        assert_eq!(
            mvk_core::time::rfc3339_secs(not_after(&der(GENERALIZED_CERT)).unwrap()),
            "2054-04-13T14:23:18Z"
        );
    }

    #[test]
    fn broken_der_is_an_error_not_a_panic() {
        let good = der(UTC_CERT);
        for n in 0..good.len() {
            let _ = not_after(&good[..n]);
        }
        assert!(not_after(&good[..good.len() / 2]).is_err());
        assert!(not_after(&[0x02, 0x01, 0x00])
            .unwrap_err()
            .contains("certificate: expected tag 0x30"));
        assert!(not_after(&[0x30, 0x85, 0, 0, 0, 0, 0])
            .unwrap_err()
            .contains("bad DER length"));
    }

    #[test]
    fn whole_days_left() {
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(days_left(30 * 86_400, at(0)), 30);
        assert_eq!(days_left(30 * 86_400, at(1)), 29);
        assert_eq!(days_left(86_400, at(86_400)), 0);
        assert_eq!(days_left(86_400, at(86_401)), -1);
    }

    #[test]
    fn times_and_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            parse_time(UTC_TIME, b"491231235959Z").unwrap(),
            2_524_607_999
        );
        assert_eq!(
            parse_time(UTC_TIME, b"500101000000Z").unwrap(),
            -631_152_000
        );
        assert_eq!(
            parse_time(GENERALIZED_TIME, b"20000229000000Z").unwrap(),
            951_782_400
        );
        assert!(parse_time(UTC_TIME, b"20000229000000Z").is_err());
        assert!(parse_time(UTC_TIME, b"001301000000Z").is_err());
        assert!(parse_time(UTC_TIME, b"000101000000+0100").is_err());
        assert!(parse_time(UTC_TIME, b"0001010000+0Z").is_err());
    }

    #[test]
    fn a_bad_ca_file_is_exit_2() {
        let dir = std::env::temp_dir().join(format!("mvk-verify-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        for file in [empty.as_path(), Path::new("/nonexistent/ca.pem")] {
            let fail = Tls::load(Some(file)).err().unwrap();
            assert_eq!(fail.exit, mvk_core::Exit::Usage);
            assert!(
                fail.message
                    .starts_with(&format!("--ca-file {}", file.display())),
                "{}",
                fail.message
            );
        }
        let good = dir.join("good.pem");
        std::fs::write(&good, UTC_CERT).unwrap();
        assert!(Tls::load(Some(&good)).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
