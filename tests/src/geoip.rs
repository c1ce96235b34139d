//! A small MaxMind DB (MMDB v2) writer for tests: an IPv4 country database with the networks
//! a test names, in the format GeoLite2-Country files have (`country.iso_code`,
//! `country.names.en`), so Mailward's GeoIP signal reads a real file through the real reader.
//! Format: <https://maxmind.github.io/MaxMind-DB/>.
use std::net::Ipv4Addr;

/// One value of the MMDB data section.
enum V<'a> {
    Str(&'a str),
    U16(u16),
    U32(u32),
    U64(u64),
    Map(Vec<(&'a str, V<'a>)>),
    Array(Vec<V<'a>>),
}

fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    let (bits, extra): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, vec![]),
        29..=284 => (29, vec![(size - 29) as u8]),
        285..=65_820 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    if kind <= 7 {
        out.push((kind << 5) | bits);
    } else {
        // Extended types: type bits 0, then the type less 7.
        out.push(bits);
        out.push(kind - 7);
    }
    out.extend(extra);
}

fn uint(out: &mut Vec<u8>, kind: u8, v: u64, width: usize) {
    let bytes = v.to_be_bytes();
    let skip = bytes
        .iter()
        .take(7)
        .take_while(|b| **b == 0)
        .count()
        .max(8 - width);
    let b = &bytes[skip..];
    let b = if v == 0 { &b[b.len()..] } else { b };
    control(out, kind, b.len());
    out.extend_from_slice(b);
}

fn encode(out: &mut Vec<u8>, v: &V<'_>) {
    match v {
        V::Str(s) => {
            control(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        V::U16(n) => uint(out, 5, *n as u64, 2),
        V::U32(n) => uint(out, 6, *n as u64, 4),
        V::U64(n) => uint(out, 9, *n, 8),
        V::Map(pairs) => {
            control(out, 7, pairs.len());
            for (k, v) in pairs {
                encode(out, &V::Str(k));
                encode(out, v);
            }
        }
        V::Array(items) => {
            control(out, 11, items.len());
            for v in items {
                encode(out, v);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Rec {
    Empty,
    Node(usize),
    Data(usize),
}

/// An IPv4 country database: each `(network, prefix length, ISO code, English name)`.
pub fn country_db(networks: &[(Ipv4Addr, u8, &str, &str)]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
    for (net, len, iso, name) in networks {
        assert!((1..=32).contains(len));
        let offset = data.len();
        encode(
            &mut data,
            &V::Map(vec![(
                "country",
                V::Map(vec![
                    ("iso_code", V::Str(iso)),
                    ("names", V::Map(vec![("en", V::Str(name))])),
                ]),
            )]),
        );
        let ip = u32::from(*net);
        let mut node = 0;
        for i in 0..*len as usize {
            let bit = ((ip >> (31 - i)) & 1) as usize;
            if i + 1 == *len as usize {
                nodes[node][bit] = Rec::Data(offset);
            } else {
                node = match nodes[node][bit] {
                    Rec::Node(n) => n,
                    _ => {
                        nodes.push([Rec::Empty, Rec::Empty]);
                        let n = nodes.len() - 1;
                        nodes[node][bit] = Rec::Node(n);
                        n
                    }
                };
            }
        }
    }
    let count = nodes.len();
    let mut out = Vec::new();
    for n in &nodes {
        for r in n {
            let v = match r {
                Rec::Empty => count,
                Rec::Node(i) => *i,
                Rec::Data(off) => count + 16 + off,
            } as u32;
            out.extend_from_slice(&v.to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    encode(
        &mut out,
        &V::Map(vec![
            ("binary_format_major_version", V::U16(2)),
            ("binary_format_minor_version", V::U16(0)),
            ("build_epoch", V::U64(1_796_169_600)),
            ("database_type", V::Str("Mailward-Test-Country")),
            (
                "description",
                V::Map(vec![("en", V::Str("Countries for Mailward's tests"))]),
            ),
            ("ip_version", V::U16(4)),
            ("languages", V::Array(vec![V::Str("en")])),
            ("node_count", V::U32(count as u32)),
            ("record_size", V::U16(24)),
        ]),
    );
    out
}

/// Writes [`country_db`] to a fresh temporary file and returns its path.
pub fn country_db_file(networks: &[(Ipv4Addr, u8, &str, &str)]) -> String {
    let path =
        std::env::temp_dir().join(format!("mw-geoip-{}.mmdb", app::core::secrets::new_id("g")));
    std::fs::write(&path, country_db(networks)).unwrap();
    path.display().to_string()
}
