export { Chacha20Poly1305 } from "./src/chacha20Poly1305.js";
