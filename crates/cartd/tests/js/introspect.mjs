// Loads cartd's schema the way GraphiQL, Apollo's tools and code generators do: graphql-js's
// standard introspection query (every option on), then `buildClientSchema`, which throws on an
// incomplete answer (an `ofType` chain cut short, a missing type).
//
// usage: node introspect.mjs GRAPHQL_URL
// Prints one JSON line {"types": <count>, "cartItems": "<type of Cart.items>"} and exits 0;
// prints the error and exits 1 otherwise.
import { buildClientSchema, getIntrospectionQuery } from 'graphql';

const [url] = process.argv.slice(2);
const query = getIntrospectionQuery({
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
});

try {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, operationName: 'IntrospectionQuery' }),
  });
  const answer = await response.json();
  if (answer.errors) {
    throw new Error(`HTTP ${response.status}: ${JSON.stringify(answer.errors)}`);
  }
  const schema = buildClientSchema(answer.data);
  const cartItems = String(schema.getType('Cart').getFields().items.type);
  console.log(JSON.stringify({ types: Object.keys(schema.getTypeMap()).length, cartItems }));
} catch (error) {
  console.error(String(error));
  process.exit(1);
}
