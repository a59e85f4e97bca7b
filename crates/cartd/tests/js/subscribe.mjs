// A real graphql-ws client (the npm package) for cartd's subscription tests.
//
// usage: node subscribe.mjs WS_URL CART_KEY [TOKEN] [COUNT]
// Prints "subscribed" once the subscription is sent, then each `cartUpdated` payload as one JSON
// line, and exits 0 after COUNT (default 1) of them; exits 1 on any error.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, key, token, count = '1'] = process.argv.slice(2);
const wanted = Number(count);
let received = 0;

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  lazy: false,
  retryAttempts: 0,
  connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
  on: {
    connected: () => {
      client.subscribe(
        {
          query: `subscription ($key: ID!) {
            cartUpdated(key: $key) { type version cart { userId version items { productId quantity } } }
          }`,
          variables: { key },
        },
        {
          next: (message) => {
            console.log(JSON.stringify(message));
            received += 1;
            if (received >= wanted) {
              client.dispose();
              process.exit(0);
            }
          },
          error: (error) => {
            console.error(JSON.stringify(error));
            process.exit(1);
          },
          complete: () => process.exit(received >= wanted ? 0 : 1),
        },
      );
      // The server registers the subscription as soon as it reads the message; give it a moment.
      setTimeout(() => console.log('subscribed'), 300);
    },
    error: (error) => {
      console.error(String(error?.message ?? error));
      process.exit(1);
    },
  },
});
