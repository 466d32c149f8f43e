// The console's only script: the print button of the certificate page.
// Everything else is plain HTML forms (the Content-Security-Policy allows
// no inline script, and none is needed).
document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll("button[data-print]")) {
    b.hidden = false;
    b.addEventListener("click", () => window.print());
  }
});
