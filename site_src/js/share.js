// WeChat share card (issue 16). Runs on every page of a campaign with a WeChat AppID,
// but does nothing outside WeChat's browser: no request, no SDK. Inside WeChat it asks
// our API for a JS-SDK signature first and loads the SDK (served from our own origin)
// only once that succeeded; any failure leaves the page as it is, without a card.
(function () {
  "use strict";
  var ua = navigator.userAgent || "";
  if (!/MicroMessenger/i.test(ua)) return;
  var me = document.currentScript;
  if (!me || !window.fetch || !window.Promise) return;
  var cfg;
  try {
    cfg = JSON.parse(me.getAttribute("data-config"));
  } catch (e) {
    return;
  }
  // iOS WeChat checks the signature against the URL the page was entered on; Android
  // against the current one. This script runs before the page's own scripts (it comes
  // first in the document), so this is the entry URL even if they rewrite the address.
  var entry = location.href.split("#")[0];
  var ios = /iPhone|iPad|iPod/i.test(ua);

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }

  function configure(sig) {
    var wx = window.wx;
    if (!wx || typeof wx.config !== "function") return;
    wx.config({
      debug: false,
      appId: sig.appId,
      timestamp: sig.timestamp,
      nonceStr: sig.nonceStr,
      signature: sig.signature,
      jsApiList: ["updateAppMessageShareData", "updateTimelineShareData"],
    });
    wx.ready(function () {
      wx.updateAppMessageShareData({
        title: cfg.title,
        desc: cfg.desc,
        link: cfg.link,
        imgUrl: cfg.img,
      });
      wx.updateTimelineShareData({ title: cfg.title, link: cfg.link, imgUrl: cfg.img });
    });
  }

  function current() {
    return location.href.split("#")[0];
  }

  function sign(url) {
    return fetch(cfg.api + "/wechat/jssdk?url=" + encodeURIComponent(url), {
      credentials: "same-origin",
    }).then(function (answer) {
      if (!answer.ok) throw new Error("no signature: " + answer.status);
      return answer.json();
    });
  }

  var signed = ios ? entry : current();
  sign(signed)
    .then(function (sig) {
      return loadScript(cfg.sdk).then(function () {
        // Android checks the URL at wx.config time: if the page's own script rewrote
        // the address meanwhile (wechat mode drops the OAuth code), sign that one.
        if (!ios && current() !== signed) return sign(current()).then(configure);
        configure(sig);
      });
    })
    .catch(function (error) {
      // Without a signature WeChat shows its plain link preview: nothing to repair.
      if (window.console) console.info("WeChat share card unavailable:", error.message || error);
    });
})();
