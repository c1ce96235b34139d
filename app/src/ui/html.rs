//! HTML written straight into one buffer, for the pieces that repeat on every row of the big
//! tables (the domain overview's rows, the pool bar, the health badge, the domain-name cell).
//! Written, not built as a Leptos view tree per row (owned strings, nested views): fewer
//! allocations on the hottest pages. Measured alone this was a small gain on a 500-row page;
//! most of the per-row time was sqlx's (see `core::db::page_json`).
//!
//! The rule that keeps it safe: markup comes only from `&'static str` ([`Html::tag`]), every
//! value goes through [`Html::text`] (escapes `& < > " '`, so it is safe in text and in quoted
//! attributes alike) or [`Html::num`]. The result is placed in a page as server HTML
//! ([`Html::view`]); it is never hydrated, so it must not be placed inside an `#[island]`.
use std::fmt::Write as _;

use leptos::tachys::html::InertElement;

#[derive(Default)]
pub struct Html(String);

impl Html {
    pub fn with_capacity(n: usize) -> Self {
        Html(String::with_capacity(n))
    }

    /// Markup: only compile-time text, never a value.
    pub fn tag(&mut self, markup: &'static str) -> &mut Self {
        self.0.push_str(markup);
        self
    }

    /// A value, escaped for text and for a double- or single-quoted attribute.
    pub fn text(&mut self, s: &str) -> &mut Self {
        let mut last = 0;
        for (i, b) in s.bytes().enumerate() {
            let rep = match b {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&#39;",
                _ => continue,
            };
            self.0.push_str(&s[last..i]);
            self.0.push_str(rep);
            last = i + 1;
        }
        self.0.push_str(&s[last..]);
        self
    }

    pub fn num(&mut self, n: i64) -> &mut Self {
        let _ = write!(self.0, "{n}");
        self
    }

    /// A fraction of `whole` as a percentage with two decimals ("12.34"), clamped to 0–100,
    /// in integer arithmetic.
    pub fn percent(&mut self, part: i64, whole: i64) -> &mut Self {
        let w = if whole <= 0 {
            0
        } else {
            (part.clamp(0, whole) as i128 * 10_000 / whole as i128) as i64
        };
        let _ = write!(self.0, "{}.{:02}", w / 100, w % 100);
        self
    }

    /// A value put together with `format_args!` (numbers, units), escaped like [`Html::text`]
    /// piece by piece as it is formatted.
    pub fn fmt(&mut self, args: std::fmt::Arguments<'_>) -> &mut Self {
        let _ = self.write_fmt(args);
        self
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The written HTML, placed as it is (server-rendered, not hydrated).
    pub fn view(self) -> InertElement {
        InertElement::new(self.0)
    }
}

/// `write!` into the buffer escapes what it writes, like [`Html::text`].
impl std::fmt::Write for Html {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.text(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Html;

    #[test]
    fn values_are_escaped_markup_is_not() {
        let mut h = Html::default();
        h.tag("<a title=\"")
            .text("x\" onmouseover='alert(1)' <b>&amp;")
            .tag("\">")
            .num(-42)
            .tag("</a>");
        assert_eq!(
            h.as_str(),
            "<a title=\"x&quot; onmouseover=&#39;alert(1)&#39; &lt;b&gt;&amp;amp;\">-42</a>"
        );
        let mut h = Html::default();
        h.fmt(format_args!("{} < {}", 1, "<i>"));
        assert_eq!(h.as_str(), "1 &lt; &lt;i&gt;");
    }
}
