// Who is signed in (GET /api/me), asked once per page load: the header shows it, and pages
// hide what the caller may not use (Resources for non-admins, keys where there are no users).
import { api } from "./api.js";

let me;

/** {id, name, admin, scopes, groups, via}, or null from a server without user accounts. */
export async function whoAmI() {
  if (me === undefined) {
    try {
      me = await api("GET", "/api/me");
    } catch (err) {
      if (err.status !== 404) throw err;
      me = null;
    }
  }
  return me;
}

/** Pages for signed-in users only: there are user accounts and this caller is one. */
export function hasAccount(who) {
  return Boolean(who && who.id !== null && who.id !== undefined);
}

/** Admin-only pages: shown to admins, and by servers without accounts (single-key or open). */
export function isAdmin(who) {
  return !who || who.admin === true;
}
