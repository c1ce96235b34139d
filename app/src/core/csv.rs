//! The one CSV writer for every export (audit log, persistence report, …): RFC 4180 quoting,
//! and text that a spreadsheet would run as a formula is neutralised. Exported fields can hold
//! what anyone typed — a User-Agent from an unauthenticated request ends up in the audit log —
//! so a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return (also after leading
//! spaces) gets a leading `'`, which spreadsheets show as text (OWASP's advice for CSV
//! injection). Numbers written with [`Csv::num`] stay numbers.

pub struct Csv {
    out: String,
    row_open: bool,
}

impl Csv {
    /// A new document with its header line (our own column names, written plain).
    pub fn new(header: &[&str]) -> Csv {
        let mut out = header.join(",");
        out.push_str("\r\n");
        Csv {
            out,
            row_open: false,
        }
    }

    fn sep(&mut self) {
        if self.row_open {
            self.out.push(',');
        }
        self.row_open = true;
    }

    /// A text cell: always quoted, formulas neutralised.
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.sep();
        self.out.push('"');
        if is_formula(s) {
            self.out.push('\'');
        }
        self.out.push_str(&s.replace('"', "\"\""));
        self.out.push('"');
        self
    }

    /// An integer cell, as is.
    pub fn num(&mut self, n: i64) -> &mut Self {
        self.sep();
        self.out.push_str(&n.to_string());
        self
    }

    pub fn end_row(&mut self) {
        self.out.push_str("\r\n");
        self.row_open = false;
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Would a spreadsheet read this cell as a formula (or a DDE call)?
pub fn is_formula(s: &str) -> bool {
    let t = s.trim_start_matches(' ');
    t.starts_with(['=', '+', '-', '@', '\t', '\r', '\n', '＝', '＋', '－', '＠'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dangerous_first_character_is_neutralised() {
        for bad in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "  =1",
            "＝1",
        ] {
            let mut c = Csv::new(&["v"]);
            c.text(bad);
            c.end_row();
            let out = c.finish();
            let cell = out.lines().nth(1).unwrap();
            assert!(cell.starts_with("\"'"), "{bad:?} gave {cell:?}");
        }
    }

    #[test]
    fn quoting_and_plain_values() {
        let mut c = Csv::new(&["a", "b", "n"]);
        c.text("say \"hi\", then\nleave").text("plain").num(-5);
        c.end_row();
        assert_eq!(
            c.finish(),
            "a,b,n\r\n\"say \"\"hi\"\", then\nleave\",\"plain\",-5\r\n"
        );
    }
}
