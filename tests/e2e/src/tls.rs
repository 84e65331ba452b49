//! A throwaway certificate authority made with `openssl`, issuing server certificates for
//! 127.0.0.1 and localhost with a chosen lifetime.

use crate::tmp::TempDir;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TestCa {
    dir: TempDir,
    /// The CA certificate (PEM), to trust with a tool's `--ca-file`.
    pub cert: PathBuf,
    key: PathBuf,
}

/// A server certificate and its key (PEM files).
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = TempDir::new("ca");
        let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=mvk e2e test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            path(&key),
            "-out",
            path(&cert),
        ]);
        TestCa { dir, cert, key }
    }

    /// A certificate for `127.0.0.1` and `localhost`, valid from now for `days` days.
    pub fn issue(&self, name: &str, days: u32) -> ServerCert {
        let key = self.dir.join(&format!("{name}.key"));
        let csr = self.dir.join(&format!("{name}.csr"));
        let cert = self.dir.join(&format!("{name}.pem"));
        let ext = self.dir.join(&format!("{name}.ext"));
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            path(&key),
            "-out",
            path(&csr),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            path(&csr),
            "-CA",
            path(&self.cert),
            "-CAkey",
            path(&self.key),
            "-CAcreateserial",
            "-days",
            &days.to_string(),
            "-extfile",
            path(&ext),
            "-out",
            path(&cert),
        ]);
        ServerCert { cert, key }
    }
}

impl Default for TestCa {
    fn default() -> TestCa {
        TestCa::new()
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl (is it installed?)");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
