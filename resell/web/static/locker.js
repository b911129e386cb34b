// The locker's copy buttons: each serial's button (hidden without JavaScript, where the serial stays
// selectable text) copies it to the clipboard and says so for two seconds. Served by the app itself
// (/locker/static/locker.js) under the CSP `script-src 'self'`.
"use strict";
document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
  var label = button.textContent;
  button.hidden = false;
  button.addEventListener("click", function () {
    var value = button.getAttribute("data-copy");
    var done = function () {
      button.textContent = button.getAttribute("data-copied") || label;
      setTimeout(function () { button.textContent = label; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(done, function () { select(button); });
    } else {
      select(button);
      try { if (document.execCommand("copy")) { done(); } } catch (e) { /* selected: the visitor copies it */ }
    }
  });
});

function select(button) {
  var serial = document.getElementById(button.getAttribute("aria-describedby"));
  if (!serial) { return; }
  var range = document.createRange();
  range.selectNodeContents(serial);
  var selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}
