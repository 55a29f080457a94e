//! PNGs of the screens the headless customers pass.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context;

use crate::runtime::screen::ScreenUpdate;
use crate::ui::View;

/// What to draw: what the runtime told the screen, or a view of its own (the home screen
/// with its tiles, just after a greyed one was touched).
#[derive(Debug)]
enum Shot {
    Update(ScreenUpdate),
    View(View),
}

/// Renders the screens the headless customers pass to PNG files, on a thread of its own
/// (the software renderer is synchronous and keeps per-thread state).
#[derive(Debug, Clone)]
pub struct ScreenRecorder {
    dir: PathBuf,
    count: Arc<AtomicU32>,
    tx: std::sync::mpsc::Sender<(PathBuf, Shot)>,
}

impl ScreenRecorder {
    pub(super) fn start(
        dir: &Path,
        orientation: crate::ui::Orientation,
    ) -> anyhow::Result<(Self, std::thread::JoinHandle<()>)> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let (tx, rx) = std::sync::mpsc::channel::<(PathBuf, Shot)>();
        let handle = std::thread::Builder::new()
            .name("screen-recorder".into())
            .spawn(move || {
                let language = crate::ui::Language::Chinese;
                while let Ok((path, shot)) = rx.recv() {
                    let png = match &shot {
                        Shot::Update(u) => crate::ui::render_png(u, orientation, language, false),
                        Shot::View(v) => {
                            crate::ui::render_view_png(v, orientation, language, false)
                        }
                    };
                    match png.map(|bytes| std::fs::write(&path, bytes)) {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, path = %path.display(), "cannot write screen PNG")
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot render screen"),
                    }
                }
            })?;
        Ok((
            Self {
                dir: dir.to_path_buf(),
                count: Arc::new(AtomicU32::new(0)),
                tx,
            },
            handle,
        ))
    }

    fn path(&self, scenario: &str, name: &str) -> PathBuf {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        self.dir.join(format!("{n:03}-{scenario}-{name}.png"))
    }

    pub(super) fn record(&self, scenario: &str, update: ScreenUpdate) {
        let name = match &update {
            ScreenUpdate::Show(s) => s.name().replace('_', "-"),
            ScreenUpdate::IdleWarning { .. } => "idle-warning".into(),
            ScreenUpdate::CameraPreview(_) => "face-capture-camera".into(),
            ScreenUpdate::Technician(crate::runtime::screen::TechScreen::SignIn { .. }) => {
                "technician-sign-in".into()
            }
            ScreenUpdate::Technician(crate::runtime::screen::TechScreen::Panel(_)) => {
                "service-panel".into()
            }
            _ => "idle".into(),
        };
        let path = self.path(scenario, &name);
        let _ = self.tx.send((path, Shot::Update(update)));
    }

    /// Records a view the runtime did not send as such; returns where its PNG goes.
    pub(super) fn record_view(&self, scenario: &str, name: &str, view: View) -> PathBuf {
        let path = self.path(scenario, name);
        let _ = self.tx.send((path.clone(), Shot::View(view)));
        path
    }
}
