//! Local file source.
pub struct FileSource;
