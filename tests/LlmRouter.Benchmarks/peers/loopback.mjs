// Preloaded into the Portkey gateway (node --import ./loopback.mjs): it listens on every interface and has
// no option to bind one address, and the benchmark touches only loopback. Every server's listen is made to
// bind 127.0.0.1; nothing else of the gateway changes.
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" || (typeof args[0] === "string" && /^\d+$/.test(args[0]))) {
    if (typeof args[1] === "string") {
      args[1] = "127.0.0.1";
    } else {
      args.splice(1, 0, "127.0.0.1");
    }
  } else if (args[0] && typeof args[0] === "object" && !("path" in args[0])) {
    args[0] = { ...args[0], host: "127.0.0.1" };
  }

  return listen.apply(this, args);
};
