// Space reclamation for LogImage (issue: Compactor). Placeholder module so the
// package layout is in place; nothing here is called yet.
import LogImage
