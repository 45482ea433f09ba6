//! Writing the Prometheus text exposition format (version 0.0.4) directly: the families of many
//! units are rendered on every scrape, and building the prometheus crate's protobuf-like structs
//! for tens of thousands of samples would cost far more than the text itself.

use std::fmt::Write as _;
use std::io::Write as _;
use std::ops::{Deref, DerefMut};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

/// Text handed to the compressor at a time when compressing while rendering.
const CHUNK: usize = 256 * 1024;

/// Where an exposition is written: a string, or a gzip stream fed in chunks as the text is
/// rendered, so that a compressed body of hundreds of units never exists uncompressed in full
/// (megabytes rendered every second would otherwise stay behind in the allocator).
pub struct Out {
    text: String,
    gzip: Option<GzEncoder<Vec<u8>>>,
}

impl Out {
    /// Plain text, in one allocation of about `capacity`.
    pub fn plain(capacity: usize) -> Out {
        Out { text: String::with_capacity(capacity), gzip: None }
    }

    /// Gzip (level 1, as Prometheus asks on every scrape), into about `capacity` bytes.
    pub fn gzip(capacity: usize) -> Out {
        let encoder = GzEncoder::new(Vec::with_capacity(capacity), Compression::fast());
        Out { text: String::with_capacity(CHUNK + CHUNK / 4), gzip: Some(encoder) }
    }

    /// A point where the text may be handed to the compressor (between samples).
    pub fn boundary(&mut self) {
        if self.text.len() >= CHUNK
            && let Some(encoder) = &mut self.gzip
        {
            // Writing to a Vec cannot fail.
            let _ = encoder.write_all(self.text.as_bytes());
            self.text.clear();
        }
    }

    /// The finished body.
    pub fn finish(self) -> Bytes {
        match self.gzip {
            None => Bytes::from(self.text),
            Some(mut encoder) => {
                let _ = encoder.write_all(self.text.as_bytes());
                Bytes::from(encoder.finish().unwrap_or_default())
            }
        }
    }
}

impl Deref for Out {
    type Target = String;
    fn deref(&self) -> &String {
        &self.text
    }
}

impl DerefMut for Out {
    fn deref_mut(&mut self) -> &mut String {
        &mut self.text
    }
}

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

/// A metric family: its name, type and help text.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

impl Family {
    pub const fn gauge(name: &'static str, help: &'static str) -> Family {
        Family { name, kind: Kind::Gauge, help }
    }

    pub const fn counter(name: &'static str, help: &'static str) -> Family {
        Family { name, kind: Kind::Counter, help }
    }
}

/// Appends `# HELP` and `# TYPE` lines.
pub fn header(out: &mut String, family: &Family) {
    out.push_str("# HELP ");
    out.push_str(family.name);
    out.push(' ');
    // Help text escapes backslashes and newlines.
    for c in family.help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push_str("\n# TYPE ");
    out.push_str(family.name);
    out.push_str(match family.kind {
        Kind::Gauge => " gauge\n",
        Kind::Counter => " counter\n",
        Kind::Histogram => " histogram\n",
    });
}

/// Appends a label value, escaped (`\\`, `\"`, `\n`).
pub fn escape_into(out: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `name="value"` pairs, rendered once and reused for every sample of a series set.
pub fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        escape_into(&mut out, value);
        out.push('"');
    }
    out
}

/// Appends a value as Prometheus reads it.
pub fn value_into(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        // Most values are counts: written as the integers they are, the same text as `{value}`
        // gives, several times faster.
        out.push_str(itoa::Buffer::new().format(value as i64));
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Appends one sample: `name{prefix,extra="..."} value`. `prefix` is already rendered (see
/// [`labels`]) and may be empty.
pub fn sample(out: &mut String, name: &str, prefix: &str, extra: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !prefix.is_empty() || !extra.is_empty() {
        out.push('{');
        out.push_str(prefix);
        for (i, (label, label_value)) in extra.iter().enumerate() {
            if i > 0 || !prefix.is_empty() {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape_into(out, label_value);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    value_into(out, value);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_values_are_written_as_display_writes_them() {
        for value in [0.0, 1.0, -5.0, 246.0, 1_700_000_000.0, 99_999_999_999_999.0, 1e15, 1e20, 0.5, 1_700_000_000.25] {
            let mut out = String::new();
            value_into(&mut out, value);
            assert_eq!(out, format!("{value}"));
        }
    }

    /// Compressed in chunks while written, the body is the plain text, whatever its size.
    #[test]
    fn a_gzip_body_written_in_chunks_is_the_plain_text() {
        let (mut plain, mut gzip) = (Out::plain(16), Out::gzip(16));
        for i in 0..40_000 {
            for out in [&mut plain, &mut gzip] {
                let _ = writeln!(out, "ads_up{{unit=\"{i}\"}} 1");
                out.boundary();
            }
        }
        let (plain, gzip) = (plain.finish(), gzip.finish());
        assert!(plain.len() > 3 * CHUNK, "several chunks: {}", plain.len());
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut unzipped).unwrap();
        assert_eq!(unzipped, plain);
        assert!(gzip.len() < plain.len() / 4);
    }

    #[test]
    fn writes_families_and_samples_as_prometheus_reads_them() {
        let mut out = String::new();
        header(&mut out, &Family::counter("x_total", "Counts \\ things.\nTwo lines."));
        let prefix = labels(&[("a", "1"), ("b", "q\"uote\\d\nline")]);
        sample(&mut out, "x_total", &prefix, &[("code", "c")], 3.0);
        sample(&mut out, "x_total", "", &[], 0.5);
        sample(&mut out, "x_total", "", &[("only", "one")], f64::INFINITY);
        sample(&mut out, "x_total", &prefix, &[], f64::NAN);
        assert_eq!(
            out,
            "# HELP x_total Counts \\\\ things.\\nTwo lines.\n# TYPE x_total counter\n\
             x_total{a=\"1\",b=\"q\\\"uote\\\\d\\nline\",code=\"c\"} 3\n\
             x_total 0.5\n\
             x_total{only=\"one\"} +Inf\n\
             x_total{a=\"1\",b=\"q\\\"uote\\\\d\\nline\"} NaN\n"
        );
        let mut big = String::new();
        value_into(&mut big, 1_700_000_000.25);
        assert_eq!(big, "1700000000.25");
    }
}
