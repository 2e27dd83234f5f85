// The login form: the password goes in a JSON POST; the answer sets the session cookie.
"use strict";
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = document.getElementById("message");
  message.textContent = "";
  const response = await fetch("/api/login", {
    method: "POST", credentials: "same-origin", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({password: document.getElementById("password").value}),
  });
  if (response.ok) { location.href = "/"; return; }
  let answer = {};
  try { answer = await response.json(); } catch (e) { /* not JSON */ }
  message.textContent = answer.error || "Could not log in";
});
