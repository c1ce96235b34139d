//! A private Knot DNS server on loopback (Debian's `knot`): authoritative for the zones a
//! test gives it, changed behind Mailward's back with RFC 2136 updates (`knsupdate`), as an
//! operator editing their DNS would.
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct Knot {
    /// Zones that take updates only with the TSIG key ([`Knot::update`] signs for them).
    signed: Vec<String>,
    pub ip: String,
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

fn free_udp_port() -> u16 {
    // A port free for both UDP and TCP (Knot listens on both).
    loop {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The TSIG key Knot knows as `mailward-test.` (hmac-sha256).
pub const TSIG_NAME: &str = "mailward-test";
pub const TSIG_SECRET: &str = "bWFpbHdhcmQtdGVzdC10c2lnLWtleS0zMi1ieXRlcyE=";

impl Knot {
    /// Starts knotd serving `zones` (origin, zone-file body without SOA/NS: those are added,
    /// with `ns1.<origin>` at 127.0.0.1).
    pub fn start(zones: &[(&str, &str)]) -> Knot {
        Knot::start_with_tsig(zones, &[])
    }

    /// As [`Knot::start`]; the zones named in `tsig_only` accept updates only when signed
    /// with the TSIG key [`TSIG_NAME`] / [`TSIG_SECRET`] (the others: from 127.0.0.1).
    pub fn start_with_tsig(zones: &[(&str, &str)], tsig_only: &[&str]) -> Knot {
        Knot::launch("127.0.0.1", free_udp_port(), zones, tsig_only)
    }

    /// A second server on another loopback address and the same port, serving its own copy
    /// of `zones` (a secondary that missed a change, when the primary is then updated).
    pub fn start_at(ip: &str, port: u16, zones: &[(&str, &str)]) -> Knot {
        Knot::launch(ip, port, zones, &[])
    }

    fn launch(ip: &str, port: u16, zones: &[(&str, &str)], tsig_only: &[&str]) -> Knot {
        let dir = std::env::temp_dir().join(format!(
            "mailward-knot-{}",
            app::core::secrets::new_id("k").trim_start_matches("k_")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut conf = format!(
            "server:\n  listen: {ip}@{port}\n  rundir: {d}\n\
             database:\n  storage: {d}\n\
             control:\n  listen: {d}/knot.sock\n\
             log:\n  - target: stderr\n    any: warning\n\
             key:\n  - id: {TSIG_NAME}\n    algorithm: hmac-sha256\n    secret: {TSIG_SECRET}\n\
             acl:\n  - id: local_update\n    address: 127.0.0.1\n    action: update\n  - id: tsig_update\n    key: {TSIG_NAME}\n    action: [transfer, update]\n  - id: local_transfer\n    address: 127.0.0.0/8\n    action: transfer\n\
             template:\n  - id: default\n    storage: {d}\n    file: \"%s.zone\"\n    acl: [local_update, local_transfer]\n    zonefile-sync: -1\n    journal-content: none\n\
             zone:\n",
            d = dir.display()
        );
        if crate::is_root() {
            conf = conf.replace("server:\n", "server:\n  user: root:root\n");
        }
        for (origin, body) in zones {
            conf.push_str(&format!("  - domain: {origin}\n"));
            if tsig_only.contains(origin) {
                conf.push_str("    acl: [tsig_update, local_transfer]\n");
            }
            std::fs::write(
                dir.join(format!("{origin}.zone")),
                format!(
                    "$ORIGIN {origin}.\n$TTL 60\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 127.0.0.1\n{body}\n"
                ),
            )
            .unwrap();
        }
        std::fs::write(dir.join("knot.conf"), conf).unwrap();
        let child = Command::new(knotd())
            .arg("-c")
            .arg(dir.join("knot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("knotd (apt install knot; scripts/install-deps test does)");
        let k = Knot {
            signed: tsig_only.iter().map(|z| z.to_string()).collect(),
            ip: ip.to_string(),
            port,
            dir,
            child: Some(child),
        };
        // Ready when it answers.
        for _ in 0..100 {
            if std::net::UdpSocket::bind("127.0.0.1:0")
                .ok()
                .is_some_and(|_| k.query_ok())
            {
                return k;
            }
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        panic!("knotd did not start on port {port}");
    }

    fn query_ok(&self) -> bool {
        Command::new("kdig")
            .args([
                &format!("@{}", self.ip),
                "-p",
                &self.port.to_string(),
                "+short",
                "+timeout=1",
                "+retry=0",
            ])
            .arg(
                std::fs::read_dir(&self.dir)
                    .unwrap()
                    .filter_map(|e| e.ok())
                    .find_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_suffix(".zone").map(str::to_string))
                    })
                    .unwrap_or_default(),
            )
            .arg("SOA")
            .output()
            .map(|o| o.status.success() && !o.stdout.is_empty())
            .unwrap_or(false)
    }

    /// Sends an RFC 2136 update to `zone`: lines such as `update add x.zone. 60 TXT "v"`.
    pub fn update(&self, zone: &str, lines: &[String]) {
        let mut script = format!("server {} {}\nzone {zone}.\n", self.ip, self.port);
        if self.signed.iter().any(|z| z == zone) {
            script.push_str(&format!("key hmac-sha256:{TSIG_NAME} {TSIG_SECRET}\n"));
        }
        for l in lines {
            script.push_str(l);
            script.push('\n');
        }
        script.push_str("send\n");
        let mut c = Command::new("knsupdate")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("knsupdate (apt install knot-dnsutils)");
        c.stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "knsupdate failed: {}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The `update add` line of one record (TXT values split into 255-byte strings).
    pub fn add_line(fqdn: &str, rtype: &str, value: &str) -> String {
        let data = if rtype == "TXT" {
            value
                .as_bytes()
                .chunks(255)
                .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            value.to_string()
        };
        format!("update add {fqdn}. 60 {rtype} {data}")
    }

    /// Writes a TSIG key file (`algorithm:name:secret`) for Mailward's configuration.
    pub fn tsig_file(&self, secret: &str) -> String {
        let tag: String = secret
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let p = self.dir.join(format!("tsig-{tag}.key"));
        std::fs::write(&p, format!("hmac-sha256:{TSIG_NAME}:{secret}\n")).unwrap();
        p.display().to_string()
    }

    /// The TXT values at `fqdn`, as this server answers them (strings joined).
    pub fn txt(&self, fqdn: &str) -> Vec<String> {
        let out = Command::new("kdig")
            .args([
                &format!("@{}", self.ip),
                "-p",
                &self.port.to_string(),
                "+short",
                "+timeout=2",
            ])
            .arg(fqdn)
            .arg("TXT")
            .output()
            .expect("kdig");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('"').skip(1).step_by(2).collect::<String>())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Every record of `zone` by zone transfer (AXFR), one per line, sorted, the SOA's serial
    /// left out: what "the zone is byte-identical to before" compares.
    pub fn zone_dump(&self, zone: &str) -> Vec<String> {
        let out = Command::new("kdig")
            .args([
                &format!("@{}", self.ip),
                "-p",
                &self.port.to_string(),
                "+timeout=2",
                "+nocomments",
                "+noheader",
                "+nostats",
                "+noquestion",
                "AXFR",
            ])
            .arg(format!("{zone}."))
            .output()
            .expect("kdig");
        assert!(out.status.success(), "AXFR of {zone} failed");
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                if f.get(3) == Some(&"SOA") {
                    // name ttl IN SOA mname rname serial …: keep all but the serial.
                    let mut f: Vec<String> = f.iter().map(|x| x.to_string()).collect();
                    if f.len() > 6 {
                        f[6] = "SERIAL".into();
                    }
                    f.join(" ")
                } else {
                    f.join(" ")
                }
            })
            .collect();
        lines.sort();
        lines.dedup();
        lines
    }

    /// The SOA serial this server has for `zone`.
    pub fn serial(&self, zone: &str) -> u32 {
        let out = Command::new("kdig")
            .args([
                &format!("@{}", self.ip),
                "-p",
                &self.port.to_string(),
                "+short",
                "+timeout=2",
            ])
            .arg(zone)
            .arg("SOA")
            .output()
            .expect("kdig");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Stops the server (its answers become timeouts).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn knotd() -> &'static str {
    if std::path::Path::new("/usr/sbin/knotd").exists() {
        "/usr/sbin/knotd"
    } else {
        "knotd"
    }
}
