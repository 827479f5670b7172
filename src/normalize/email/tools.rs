//! External text tools run as bounded subprocesses: `pdftotext` and `pdftoppm` (Debian
//! `poppler-utils`) for a PDF's text layer and page images, `tesseract` (Debian
//! `tesseract-ocr`, `eng` + `chi_sim`) for OCR. Each run has a deadline and an output cap and is
//! killed past them; a tool that is not installed is reported as such, never as a crash.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why a tool run gave no text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The program is not installed (not found on `PATH`).
    #[error("{0} is not installed")]
    NotInstalled(String),
    /// It ran past its deadline and was killed.
    #[error("{0} took longer than {1} s and was stopped")]
    Timeout(String, u64),
    /// It failed (exit status, bad input).
    #[error("{0} failed: {1}")]
    Failed(String, String),
}

/// Which programs to run, and their bounds.
#[derive(Debug, Clone)]
pub struct Tools {
    /// `pdftotext` (from `ORDERGATE_PDFTOTEXT`, else found on `PATH`).
    pub pdftotext: String,
    /// `pdftoppm`, to render image-only PDF pages for OCR (`ORDERGATE_PDFTOPPM`).
    pub pdftoppm: String,
    /// `tesseract` (`ORDERGATE_TESSERACT`).
    pub tesseract: String,
    /// Tesseract languages, `eng+chi_sim` unless `ORDERGATE_OCR_LANGS` says otherwise.
    pub ocr_langs: String,
    /// Deadline of one run.
    pub timeout: Duration,
    /// Most bytes of output kept from one run.
    pub max_output: usize,
    /// Most PDF pages rendered for OCR.
    pub max_pages: u32,
}

impl Default for Tools {
    fn default() -> Self {
        let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
        Self {
            pdftotext: env("ORDERGATE_PDFTOTEXT", "pdftotext"),
            pdftoppm: env("ORDERGATE_PDFTOPPM", "pdftoppm"),
            tesseract: env("ORDERGATE_TESSERACT", "tesseract"),
            ocr_langs: env("ORDERGATE_OCR_LANGS", "eng+chi_sim"),
            timeout: Duration::from_secs(60),
            max_output: 4 * 1024 * 1024,
            max_pages: 10,
        }
    }
}

impl Tools {
    /// The text layer of a PDF, laid out as on the page (columns kept apart by spaces).
    pub fn pdf_text(&self, pdf: &[u8]) -> Result<String, ToolError> {
        let out = self.run(
            &self.pdftotext,
            &[
                "-layout",
                // The whole text layer, not only what falls inside the page: a column
                // printed past the page's edge ("Gesamt (EUR)" of a faxed order) is still
                // written there, and cut at the edge it reads as other numbers ("4" for
                // "428,00").
                "-x",
                "0",
                "-y",
                "0",
                "-W",
                "100000",
                "-H",
                "100000",
                "-enc",
                "UTF-8",
                "-l",
                &self.max_pages.to_string(),
                "-",
                "-",
            ],
            pdf,
        )?;
        Ok(String::from_utf8_lossy(&out).replace('\u{000C}', "\n"))
    }

    /// OCR of an image (PNG, TIFF, JPEG, …) read through Tesseract.
    pub fn ocr_image(&self, image: &[u8]) -> Result<String, ToolError> {
        let args = |langs: &str| {
            vec![
                "stdin".to_string(),
                "stdout".into(),
                "-l".into(),
                langs.to_string(),
                "--psm".into(),
                "6".into(),
                "-c".into(),
                "preserve_interword_spaces=1".into(),
            ]
        };
        let run = |langs: &str| {
            let a = args(langs);
            let refs: Vec<&str> = a.iter().map(String::as_str).collect();
            self.run(&self.tesseract, &refs, image)
        };
        let out = match run(&self.ocr_langs) {
            // A missing language pack: English alone still reads most forms.
            Err(ToolError::Failed(..)) if self.ocr_langs != "eng" => run("eng")?,
            other => other?,
        };
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// OCR of every page of an image-only PDF: pages rendered at 300 dpi, then read.
    pub fn ocr_pdf(&self, pdf: &[u8]) -> Result<String, ToolError> {
        let dir = TempDir::new().map_err(|e| ToolError::Failed("pdftoppm".into(), e))?;
        let prefix = dir.0.join("page");
        let prefix = prefix.to_string_lossy().into_owned();
        self.run(
            &self.pdftoppm,
            &[
                "-r",
                "300",
                "-gray",
                "-png",
                "-l",
                &self.max_pages.to_string(),
                "-",
                &prefix,
            ],
            pdf,
        )?;
        let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir.0)
            .map_err(|e| ToolError::Failed("pdftoppm".into(), e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        pages.sort();
        let mut text = String::new();
        for page in pages {
            let image = std::fs::read(&page)
                .map_err(|e| ToolError::Failed("pdftoppm".into(), e.to_string()))?;
            text.push_str(&self.ocr_image(&image)?);
            // A form feed between pages, as Tesseract writes between the pages of a TIFF.
            text.push('\u{000C}');
        }
        Ok(text)
    }

    /// Runs `program` with `input` on stdin; its stdout, within the deadline and output cap.
    fn run(&self, program: &str, args: &[&str], input: &[u8]) -> Result<Vec<u8>, ToolError> {
        let name = Path::new(program)
            .file_name()
            .map_or(program.to_string(), |n| n.to_string_lossy().into_owned());
        // Tesseract's OpenMP threads spin on a busy machine (a page took 11-17 s at a load of
        // 11 on 2 cores instead of 2 s): one thread keeps a run bounded. Other tools ignore it.
        let mut child = Command::new(program)
            .args(args)
            .env("OMP_THREAD_LIMIT", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                    ToolError::NotInstalled(name.clone())
                }
                _ => ToolError::Failed(name.clone(), e.to_string()),
            })?;
        let mut stdin = child.stdin.take();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            if let Some(s) = stdin.as_mut() {
                // A tool that stops reading early closes the pipe; that is not our error.
                let _ = s.write_all(&input);
            }
        });
        let cap = self.max_output as u64;
        let stdout = child.stdout.take();
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(s) = stdout {
                let _ = s.take(cap).read_to_end(&mut out);
            }
            out
        });
        let stderr = child.stderr.take();
        let err_reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(s) = stderr {
                let _ = s.take(64 * 1024).read_to_end(&mut out);
            }
            out
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(ToolError::Timeout(name, self.timeout.as_secs()));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(ToolError::Failed(name, e.to_string())),
            }
        };
        let _ = writer.join();
        let out = reader.join().unwrap_or_default();
        let err = err_reader.join().unwrap_or_default();
        if !status.success() {
            let msg = String::from_utf8_lossy(&err);
            let msg = msg.lines().next().unwrap_or("").trim();
            return Err(ToolError::Failed(name, format!("{status}: {msg}")));
        }
        Ok(out)
    }
}

/// A private temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("ordergate-ocr-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
