//! Shipping: `mailward serve` refuses, in one line and with a non-zero exit, a database it
//! cannot open or a site folder without the built console; and the Debian package that
//! `scripts/package` builds unpacks into a scratch root with the right files and modes, and
//! its binary serves the installed site with the packaged configuration (README: Run in
//! production).
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh scratch folder (removed by the test when it passes).
fn scratch(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "mwpkg-{name}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `mailward` with no MAILWARD_* settings inherited from the caller's environment.
fn mailward(bin: &Path, dir: &Path) -> Command {
    let mut c = Command::new(bin);
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("MAILWARD_") {
            c.env_remove(k);
        }
    }
    c
}

/// Runs a command that must finish on its own (a refusal), killing it after `secs`.
fn finishes(mut cmd: Command, secs: u64) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} was still running after {secs} s instead of refusing: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// A refusal: exit code 1, and exactly one line on stderr saying why (no panic).
fn refused(out: &Output, about: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line, please: {stderr}");
    assert!(stderr.starts_with("mailward: "), "{stderr}");
    assert!(stderr.contains(about), "{stderr}");
    stderr
}

/// A site folder with the three files `serve` insists on (empty: enough to start).
fn fake_site(dir: &Path) -> PathBuf {
    let site = dir.join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    for f in server::SITE_FILES {
        std::fs::write(site.join(f), "").unwrap();
    }
    site
}

#[test]
fn serve_refuses_a_site_folder_without_the_built_console() {
    let bin = mailward_tests::mailward_bin();
    let dir = scratch("site");
    let db = dir.join("data/mailward.db");
    let serve = |site: &Path| {
        let mut c = mailward(&bin, &dir);
        c.arg("--database-url")
            .arg(format!("sqlite://{}", db.display()))
            .args(["serve", "--bind", "127.0.0.1:0", "--site-root"])
            .arg(site);
        finishes(c, 20)
    };
    // No such folder.
    let missing = dir.join("no-such-site");
    let msg = refused(&serve(&missing), "does not exist");
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    // A folder without the wasm bundle (e.g. only the stylesheet was built).
    let site = fake_site(&dir);
    std::fs::remove_file(site.join("pkg/mailward_bg.wasm")).unwrap();
    refused(&serve(&site), "has no pkg/mailward_bg.wasm");
    // …and nothing was created meanwhile: the refusal comes before the database.
    assert!(!db.exists() && !db.parent().unwrap().exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn serve_refuses_a_database_it_cannot_open() {
    let bin = mailward_tests::mailward_bin();
    let dir = scratch("db");
    let site = fake_site(&dir);
    let serve = |url: String| {
        let mut c = mailward(&bin, &dir);
        c.env("MAILWARD_DATABASE_URL", url)
            .env("MAILWARD_SITE_ROOT", &site)
            .args(["serve", "--bind", "127.0.0.1:0"]);
        finishes(c, 30)
    };
    // The database's folder cannot be created (a file is in the way). As root (CI) a
    // read-only folder would not stop it, so this is the portable way to be refused.
    std::fs::write(dir.join("a-file"), "").unwrap();
    let url = format!("sqlite://{}/a-file/mailward.db", dir.display());
    let msg = refused(&serve(url.clone()), "cannot open the database");
    assert!(msg.contains(&url), "{msg}");
    // The path is a folder, not a database file.
    std::fs::create_dir_all(dir.join("a-folder.db")).unwrap();
    refused(
        &serve(format!("sqlite://{}/a-folder.db", dir.display())),
        "cannot open the database",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{:?} could not run: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Collects a child's output in the background.
fn collect(mut r: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    buf
}

/// Stops the server even when an assertion fails.
struct Running(std::process::Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debian_package_installs_and_serves() {
    let started = Instant::now();
    assert!(
        Command::new("dpkg-deb").arg("--version").output().is_ok(),
        "dpkg-deb is missing: the package test needs Debian's dpkg (apt-get install dpkg)"
    );
    for f in ["target/debug/mailward", "target/site/pkg/mailward_bg.wasm"] {
        assert!(
            repo().join(f).exists(),
            "{f} is missing: run `MAILWARD_PROFILE=dev scripts/build` first (scripts/test does)"
        );
    }
    let dir = scratch("deb");

    // Package the debug build that is already there.
    let out = dir.join("out");
    let t = Instant::now();
    let printed = run(Command::new(repo().join("scripts/package"))
        .args(["--profile", "dev", "--no-build", "--out"])
        .arg(&out));
    let package_secs = t.elapsed().as_secs_f64();
    let deb = PathBuf::from(printed.lines().last().unwrap_or_default().trim());
    assert!(deb.is_file(), "scripts/package printed {printed:?}");
    let deb_bytes = std::fs::metadata(&deb).unwrap().len();
    eprintln!(
        "packaged {} ({deb_bytes} bytes) in {package_secs:.1} s",
        deb.display()
    );

    // The control file: name, the workspace's version, only libc-level dependencies.
    let control = run(Command::new("dpkg-deb").arg("-I").arg(&deb).arg("control"));
    assert!(control.contains("Package: mailward\n"), "{control}");
    assert!(
        control.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{control}"
    );
    let depends = control
        .lines()
        .find_map(|l| l.strip_prefix("Depends: "))
        .unwrap_or_else(|| panic!("no Depends: {control}"));
    assert!(depends.contains("libc6"), "{depends}");
    for not in ["sqlite", "postfix", "dovecot", "libssl"] {
        assert!(!depends.contains(not), "{depends}");
    }
    assert!(control.contains("Recommends: postfix"), "{control}");
    let conffiles = run(Command::new("dpkg-deb")
        .arg("-I")
        .arg(&deb)
        .arg("conffiles"));
    assert_eq!(conffiles.trim(), "/etc/mailward/mailward.toml");

    // Everything is root's in the archive.
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for line in listing.lines() {
        assert!(line.contains(" root/root "), "{line}");
    }

    // Unpack into a scratch root, as dpkg would install it.
    let root = dir.join("root");
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(&root));
    let ctrl = dir.join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&ctrl));
    for (path, want) in [
        ("usr/bin/mailward", 0o755),
        ("usr/lib/mailward/mailplane", 0o755),
        ("usr/lib/systemd/system/mailward.service", 0o644),
        ("usr/lib/systemd/system/mailward-mailplane.service", 0o644),
        ("usr/lib/systemd/system/mailward-milter.service", 0o644),
        ("usr/lib/systemd/system/mailward-policy.service", 0o644),
        ("etc/mailward/mailward.toml", 0o640),
        ("usr/share/mailward/site/pkg/mailward.css", 0o644),
        ("usr/share/mailward/site/pkg/mailward.js", 0o644),
        ("usr/share/mailward/site/pkg/mailward_bg.wasm", 0o644),
        ("usr/share/mailward/site/pkg/mailward_bg.wasm.gz", 0o644),
        ("usr/share/doc/mailward/copyright", 0o644),
    ] {
        assert_eq!(mode(&root.join(path)), want, "{path}");
    }
    for script in ["postinst", "prerm", "postrm"] {
        assert_eq!(mode(&ctrl.join(script)), 0o755, "{script}");
        run(Command::new("sh").arg("-n").arg(ctrl.join(script)));
    }
    run(Command::new("sh")
        .arg("-n")
        .arg(root.join("usr/lib/mailward/mailplane")));
    let postinst = std::fs::read_to_string(ctrl.join("postinst")).unwrap();
    assert!(
        postinst.contains("chown root:mailward \"$CONF\"") && postinst.contains("chmod 0640"),
        "{postinst}"
    );
    let unit =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/mailward.service")).unwrap();
    for line in [
        "User=mailward",
        "Environment=MAILWARD_CONFIG=/etc/mailward/mailward.toml",
        "ExecStart=/usr/bin/mailward serve",
        "StateDirectory=mailward",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/mailward",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "mailward.service lacks {line}"
        );
    }
    let mp_unit =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/mailward-mailplane.service"))
            .unwrap();
    assert!(
        mp_unit.contains("ExecStart=/usr/lib/mailward/mailplane start /etc/mailward/mail"),
        "{mp_unit}"
    );
    for (unit, exec) in [
        (
            "milter",
            "ExecStart=/usr/bin/mailward milter --listen 127.0.0.1:8891",
        ),
        (
            "policy",
            "ExecStart=/usr/bin/mailward policy --listen 127.0.0.1:10040",
        ),
    ] {
        let text = std::fs::read_to_string(
            root.join(format!("usr/lib/systemd/system/mailward-{unit}.service")),
        )
        .unwrap();
        for line in ["User=mailward", exec, "ReadWritePaths=/var/lib/mailward"] {
            assert!(
                text.lines().any(|l| l == line),
                "mailward-{unit}.service lacks {line}"
            );
        }
    }

    // The packaged configuration, pointed at the scratch root: it must parse as it is shipped.
    let conf = std::fs::read_to_string(root.join("etc/mailward/mailward.toml")).unwrap();
    for line in [
        "database_url = \"sqlite:///var/lib/mailward/mailward.db\"",
        "site_root = \"/usr/share/mailward/site\"",
    ] {
        assert!(
            conf.lines().any(|l| l == line),
            "mailward.toml lacks {line}"
        );
    }
    let bin = root.join("usr/bin/mailward");
    let state = dir.join("var/lib/mailward");
    let port = free_port();
    let adapted: String = conf
        .lines()
        .map(|l| {
            if l.starts_with("database_url =") {
                format!(
                    "database_url = \"sqlite://{}/mailward.db\"",
                    state.display()
                )
            } else if l.starts_with("site_root =") {
                format!(
                    "site_root = \"{}\"",
                    root.join("usr/share/mailward/site").display()
                )
            } else if l.starts_with("bind =") {
                format!("bind = \"127.0.0.1:{port}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let conf_file = dir.join("mailward.toml");
    std::fs::write(&conf_file, adapted).unwrap();

    // The file documents every setting there is, and nothing that is not one (unknown keys
    // would be refused at start): `key = …` and `#key = …` lines against config.rs.
    let source = std::fs::read_to_string(repo().join("app/src/core/config.rs")).unwrap();
    let fields = |name: &str| -> Vec<String> {
        let body = source
            .split(&format!("pub struct {name} {{"))
            .nth(1)
            .and_then(|b| b.split("\n}").next())
            .unwrap_or_else(|| panic!("no struct {name} in config.rs"));
        body.lines()
            .filter_map(|l| l.trim().strip_prefix("pub "))
            .filter_map(|l| l.split_once(':').map(|(k, _)| k.trim().to_string()))
            .collect()
    };
    let (top, smtp, probe) = (
        fields("Config"),
        fields("SmtpConfig"),
        fields("ProbeConfig"),
    );
    assert!(top.contains(&"site_root".to_string()) && smtp.contains(&"host".to_string()));
    // Keys belong to the section above them: [smtp], [alert_smtp] and [probe.submission]
    // hold SmtpConfig's fields, [probe] ProbeConfig's.
    let mut section = "top";
    for line in conf.lines() {
        let l = line.trim_start_matches('#');
        section = match l.trim() {
            "[smtp]" | "[alert_smtp]" | "[probe.submission]" => "smtp",
            "[probe]" => "probe",
            _ => section,
        };
        let Some((key, _)) = l.split_once(" = ") else {
            continue;
        };
        if key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            let known = match section {
                "smtp" => &smtp,
                "probe" => &probe,
                _ => &top,
            };
            assert!(
                known.contains(&key.to_string()),
                "mailward.toml documents {key:?} in [{section}], which config.rs does not have there"
            );
        }
    }
    for f in top.iter().chain(&smtp).chain(&probe) {
        // A `key = …` line, a `[section]`, or (a retired setting) named in backquotes.
        let documented = conf
            .lines()
            .any(|l| l.trim_start_matches('#').starts_with(&format!("{f} = ")))
            || conf.contains(&format!("[{f}]"))
            || conf.contains(&format!(".{f}]"))
            || conf.contains(&format!("`{f}"));
        assert!(
            documented,
            "config.rs has {f:?}: document it in packaging/debian/mailward.toml"
        );
    }

    // Start it the way the unit does: MAILWARD_CONFIG and nothing else.
    let t = Instant::now();
    let mut cmd = mailward(&bin, &dir);
    cmd.arg("serve")
        .env("MAILWARD_CONFIG", &conf_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut server = Running(cmd.spawn().unwrap());
    let stdout = collect(server.0.stdout.take().unwrap());
    let stderr = collect(server.0.stderr.take().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!(
                "the installed mailward exited ({status}): {}{}",
                stdout.lock().unwrap(),
                stderr.lock().unwrap()
            );
        }
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no 200 from /readyz within 30 s: {}",
            stderr.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready_secs = t.elapsed().as_secs_f64();
    assert!(state.join("mailward.db").is_file());

    // The first start on an empty database prints the one-time setup link, and it opens.
    let link = loop {
        let text = stdout.lock().unwrap().clone();
        if let Some(l) = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&format!("{base}/")))
        {
            assert!(text.contains("one-time link"), "{text}");
            break l.to_string();
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no setup link on stdout: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let page = http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200, "{link}");

    // The console's assets come from the installed site.
    let css = http
        .get(format!("{base}/pkg/mailward.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    let served = css.bytes().await.unwrap();
    let installed = std::fs::read(root.join("usr/share/mailward/site/pkg/mailward.css")).unwrap();
    assert_eq!(served.as_ref(), installed.as_slice());
    drop(server);
    eprintln!(
        "installed server ready in {ready_secs:.1} s; package test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
