// The receipt checker's page: reads the chosen file in the browser (nothing
// is uploaded) and runs the bundled verifier (contracts/draw/verify-js) with
// the trust embedded in the page. No network is needed once the page is loaded.
(function () {
  "use strict";
  var input = document.getElementById("receipt");
  var out = document.getElementById("result");
  var trustEl = document.getElementById("trust");
  var form = document.getElementById("check");
  if (!input || !out || !trustEl) return;
  form.addEventListener("submit", function (e) { e.preventDefault(); });

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function message(check, passed) {
    var v = window.vrsVerify;
    return (v && v.messageVi) ? v.messageVi(check, passed) : check;
  }
  function show(result) {
    out.textContent = "";
    if (result.ok) {
      out.appendChild(el("p", "ok",
        "Biên nhận hợp lệ: biển số " + result.plate + ", kho số " + result.pool + ", vòng beacon " + result.round + "."));
    } else {
      out.appendChild(el("p", "fail", "Biên nhận KHÔNG hợp lệ. Bước kiểm tra không đạt: " + message(result.check, false) +
        " (" + result.check + ")."));
      if (result.reason) out.appendChild(el("p", null, result.reason));
    }
    var list = el("ol", "checks");
    (result.checks || []).forEach(function (c) {
      list.appendChild(el("li", "passed", message(c, true) + " (" + c + ")"));
    });
    if (!result.ok) list.appendChild(el("li", "failed", message(result.check, false) + " (" + result.check + ")"));
    out.appendChild(el("h2", null, "Các bước kiểm tra"));
    out.appendChild(list);
  }
  input.addEventListener("change", function () {
    var file = input.files && input.files[0];
    if (!file) return;
    out.textContent = "Đang kiểm tra…";
    var reader = new FileReader();
    reader.onload = function () {
      var result;
      try {
        result = window.vrsVerify.verifyReceipt(String(reader.result), trustEl.textContent);
      } catch (e) {
        result = { ok: false, check: "format", reason: String(e), checks: [] };
      }
      Promise.resolve(result).then(show, function (e) {
        show({ ok: false, check: "format", reason: String(e), checks: [] });
      });
    };
    reader.onerror = function () { out.textContent = "Không đọc được tệp."; };
    reader.readAsText(file);
  });
})();
