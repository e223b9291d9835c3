// The page's only script (the CSP allows no inline code): keyboard shortcuts of the compare view,
// and the job page's refresh while a job runs.
"use strict";

const DECISION_KEYS = { c: "confirm", r: "reject", i: "inconclusive" };

function typingIn(target) {
  return target instanceof Element && target.closest("input, textarea, select, [contenteditable]") !== null;
}

function watchShortcuts(form) {
  const hint = document.getElementById("shortcut-hint");
  const note = form.querySelector("textarea");
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (typingIn(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const key = event.key.toLowerCase();
    if (key === "n" && note) {
      event.preventDefault();
      note.focus();
      return;
    }
    const button = form.querySelector(`button[value="${DECISION_KEYS[key]}"]`);
    if (button && !button.disabled) {
      // A decision is only selected here; Enter (the button's own key) records it.
      event.preventDefault();
      button.focus();
      if (hint) hint.textContent = `${button.textContent.trim().split(/\s/)[0]} selected: press Enter to record it.`;
    }
  });
}

function refreshLater(element) {
  const seconds = Number(element.dataset.refreshSeconds);
  if (seconds > 0) window.setTimeout(() => window.location.reload(), seconds * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("decide");
  if (form) watchShortcuts(form);
  const refreshing = document.querySelector("[data-refresh-seconds]");
  if (refreshing) refreshLater(refreshing);
});
