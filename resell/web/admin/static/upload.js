// The stock page's upload with progress: a form marked data-upload is sent by XMLHttpRequest, its
// <progress> follows the bytes sent, and the answer's <main> replaces this page's. Without this
// script the form posts as usual and the answer is the same page.
"use strict";
(function () {
  function bind(form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var progress = form.querySelector("progress");
      var status = form.querySelector("[role=status]");
      var button = form.querySelector("button[type=submit]");
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) { progress.removeAttribute("value"); return; }
        progress.value = Math.round(100 * e.loaded / e.total);
        status.textContent = e.loaded < e.total ? "Sending: " + progress.value + " %" : "Sent; checking and importing…";
      });
      request.addEventListener("load", function () {
        var answer = new DOMParser().parseFromString(request.responseText, "text/html");
        var main = answer.querySelector("main");
        if (!main) {
          status.textContent = "The server answered " + request.status + ".";
          button.disabled = false;
          return;
        }
        document.querySelector("main").innerHTML = main.innerHTML;
        document.title = answer.title;
        var heading = document.querySelector("#import-result h2") || document.querySelector("main h1");
        if (heading) { heading.tabIndex = -1; heading.focus(); }
        var again = document.querySelector("form[data-upload]");
        if (again) { bind(again); }
      });
      request.addEventListener("error", function () {
        status.textContent = "The upload did not reach the server. Please try again.";
        button.disabled = false;
      });
      progress.hidden = false;
      progress.value = 0;
      button.disabled = true;
      status.textContent = "Sending…";
      request.send(new FormData(form));
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.XMLHttpRequest || !window.FormData || !window.DOMParser) { return; }
    document.querySelectorAll("form[data-upload]").forEach(bind);
  });
})();
