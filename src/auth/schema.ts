import { z } from 'zod';
import { duration } from '../config/units-schema.js';
import type { AuthorizeFunction } from './types.js';

/**
 * An endpoint's `auth` key. Descriptions of keys shared by several variants are identical, so
 * the config reference can merge them into one row.
 */

export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
const ALGORITHMS = [...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS] as const;
export type JwtAlgorithm = (typeof ALGORITHMS)[number];

const SECRET_DESCRIPTION =
  'Shared secret, at least 32 characters: the HS256 key for `jwt`, the HMAC-SHA256 key that signs upload tokens for `signed` (see `tusport token`).';
const secret = () => z.string({ error: 'expected a secret string' }).min(32, { error: 'must be at least 32 characters' }).meta({ description: SECRET_DESCRIPTION });

// Principal ids become upload owners and appear in `id:token` lists.
const principalId = () =>
  z
    .string()
    .regex(/^[^\s:,]{1,128}$/, { error: 'expected an id of 1-128 characters without spaces, ":" or ","' })
    .meta({ description: 'Principal id of whoever holds this token.' });

const common = {
  tokenFrom: z
    .strictObject({
      header: z.boolean().default(true).meta({ description: 'Read the token from `Authorization: Bearer <token>`.' }),
      query: z.string().min(1).optional().meta({
        description: 'Also read it from this query parameter (off by default: URLs end up in logs and browser history).',
      }),
      cookie: z.string().min(1).optional().meta({ description: 'Also read it from this cookie (off by default).' }),
    })
    .prefault({})
    .meta({ description: 'Where the token is read from, first match wins: the header, then the query parameter, then the cookie.' }),
  bind: z
    .record(z.string(), z.string().min(1))
    .default({})
    .meta({
      description:
        'Template params that must equal a claim of the principal, e.g. `{ username: sub }`: only the token whose `sub` is `alice` may use `/users/alice/uploads` (403 otherwise).',
    }),
  admin: z
    .strictObject({
      claim: z.string().min(1).meta({ description: 'Claim to look at (a dotted path such as `realm_access.roles` reaches into objects).' }),
      value: z.string().optional().meta({ description: 'Value the claim must equal or, for a list, include. Unset: any truthy claim.' }),
    })
    .optional()
    .meta({ description: 'Principals matching this rule are admins: `bind` does not apply to them.' }),
  realm: z
    .string()
    .regex(/^[^"\\\u0000-\u001f\u007f]*$/, { error: 'must not contain quotes, backslashes or control characters' })
    .default('tusport')
    .meta({ description: 'Realm named in the `WWW-Authenticate` header of 401 answers.' }),
};

const NoneSchema = z.strictObject({ type: z.literal('none').meta({ description: '`none`: anyone may upload.' }) });

const TokenEntrySchema = z.union(
  [
    z.strictObject({
      id: principalId(),
      token: z
        .string()
        .min(16, { error: 'tokens must be at least 16 characters' })
        .meta({ description: 'The token itself, at least 16 characters (the config then holds a secret: prefer `sha256`).' }),
    }),
    z.strictObject({
      id: principalId(),
      sha256: z
        .string()
        .regex(/^[0-9a-fA-F]{64}$/, { error: 'expected 64 hex digits' })
        .meta({ description: 'Hex SHA-256 of the token instead of the token (`printf %s "$TOKEN" | sha256sum`).' }),
    }),
  ],
  { error: 'expected { id, token } or { id, sha256 }' },
);

const BearerSchema = z
  .strictObject({
    type: z.literal('bearer').meta({ description: '`bearer`: static API tokens.' }),
    tokens: z.array(TokenEntrySchema).optional().meta({
      description: 'Static tokens, each `{ id, token }` or `{ id, sha256 }` (the hex SHA-256 of the token, so the config holds no secret).',
    }),
    tokensFile: z.string().min(1).optional().meta({ description: 'File of tokens, one `id:token` per line (`#` starts a comment). Read at startup.' }),
    tokensEnv: z.string().min(1).optional().meta({ description: 'Environment variable holding tokens as `id:token,id:token`. Read at startup.' }),
    ...common,
  })
  .refine((auth) => auth.tokens !== undefined || auth.tokensFile !== undefined || auth.tokensEnv !== undefined, {
    error: 'bearer auth needs tokens, tokensFile or tokensEnv',
  });

const JwtSchema = z
  .strictObject({
    type: z.literal('jwt').meta({ description: '`jwt`: JSON Web Tokens from an identity provider or the app.' }),
    secret: secret().optional(),
    publicKey: z.string().regex(/^\s*-----BEGIN /, { error: 'expected a PEM public key' }).optional().meta({
      description: 'PEM public key (RS256/ES256/...) that verifies tokens.',
    }),
    jwksUrl: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional().meta({
      format: 'URL',
      description: 'URL of the identity provider\'s JSON Web Key Set (https, or http on loopback). Keys are cached; an unreachable JWKS answers 503.',
    }),
    jwksTimeout: duration().default(5_000).meta({ description: 'How long a JWKS fetch may take (default 5s).' }),
    algorithms: z.array(z.enum(ALGORITHMS)).min(1).optional().meta({
      description: 'Accepted algorithms. Default: HS256 with `secret`, the key\'s own with `publicKey`, every asymmetric one with `jwksUrl`.',
    }),
    issuer: z.union([z.string(), z.array(z.string())]).optional().meta({ description: 'Required `iss` (one of a list).' }),
    audience: z.union([z.string(), z.array(z.string())]).optional().meta({ description: 'Required `aud` (one of a list).' }),
    clockTolerance: duration().default(5_000).meta({ description: 'Leeway for `exp` and `nbf`, which are always checked (`exp` is required); default 5s.' }),
    principalClaim: z.string().min(1).default('sub').meta({ description: 'Claim that holds the principal id.' }),
    ...common,
  })
  .superRefine((auth, ctx) => {
    const sources = (['secret', 'publicKey', 'jwksUrl'] as const).filter((key) => auth[key] !== undefined);
    if (sources.length !== 1) {
      ctx.addIssue({ code: 'custom', message: `jwt auth needs exactly one of secret, publicKey, jwksUrl (got ${sources.join(', ') || 'none'})` });
      return;
    }
    // Mixing HMAC and public-key algorithms is the classic alg-confusion hole.
    const hmac = auth.secret !== undefined;
    const wrong = (auth.algorithms ?? []).filter((alg) => (HMAC_ALGORITHMS as readonly string[]).includes(alg) !== hmac);
    if (wrong.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['algorithms'], message: `${wrong.join(', ')} cannot be used with ${hmac ? 'a secret' : 'a public key'}` });
    }
    if (auth.jwksUrl !== undefined) {
      const url = new URL(auth.jwksUrl);
      if (url.protocol === 'http:' && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) {
        ctx.addIssue({ code: 'custom', path: ['jwksUrl'], message: 'must use https (plain http only on localhost)' });
      }
    }
  });

const SignedSchema = z.strictObject({
  type: z.literal('signed').meta({ description: '`signed`: short-lived upload tokens minted by your backend (`signUploadToken` / `tusport token`).' }),
  secret: secret(),
  ...common,
});

const FunctionSchema = z.strictObject({
  type: z.literal('function').meta({ description: '`function`: library only, `authorize` decides.' }),
  authorize: z
    .custom<AuthorizeFunction>((value) => typeof value === 'function', { error: 'expected a function (library use only)' })
    .meta({ description: 'Library only: `async (request, params, token) => ({ id, claims?, admin? })`; null means 401.' }),
  ...common,
});

export const AuthSchema = z
  .discriminatedUnion('type', [NoneSchema, BearerSchema, JwtSchema, SignedSchema, FunctionSchema], {
    error: (issue) =>
      issue.code === 'invalid_union' || issue.code === 'invalid_type' ? 'expected auth with type "none", "bearer", "jwt", "signed" or "function"' : undefined,
  })
  .default({ type: 'none' })
  .meta({ description: 'Who may use this endpoint. Default: anyone.' });

export type AuthConfig = z.input<typeof AuthSchema>;
export type AuthConfigOutput = z.output<typeof AuthSchema>;
