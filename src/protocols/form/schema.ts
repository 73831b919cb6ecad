import { z } from 'zod';
import { byteSize } from '../../config/units-schema.js';

const FormOptionsSchema = z.strictObject({
  fileFields: z
    .array(z.string().min(1).max(100))
    .min(1)
    .optional()
    .meta({
      description:
        'Names of the form fields that may carry files (e.g. `["file", "files[]"]`); a file in any other field is refused (400). Unset: a file in any field is stored.',
    }),
  maxFiles: z.number().int().min(1).default(10).meta({ description: 'Most files one form POST may carry (413 `TUSPORT_ERR_FORM_TOO_MANY_FILES` above it).' }),
  maxFields: z.number().int().min(0).default(50).meta({ description: 'Most non-file fields one form POST may carry (413 `TUSPORT_ERR_FORM_TOO_MANY_FIELDS` above it).' }),
  maxFieldSize: byteSize().default(4096).meta({
    description: 'Largest value of one non-file field (413 `TUSPORT_ERR_FORM_FIELD_TOO_LARGE` above it). Fields become the stored files\' metadata.',
  }),
});

/**
 * `form: true` or `form: { ... }`: this endpoint also takes classic `multipart/form-data` POSTs
 * on its collection URL (src/protocols/form/). Normalised to the options object, or undefined
 * when off, so code reads `config.form?.maxFiles`.
 */
export const FormSchema = z
  .union([z.boolean(), FormOptionsSchema], { error: 'expected true, false or { fileFields, maxFiles, maxFields, maxFieldSize }' })
  .optional()
  .transform((value) => (value === true ? FormOptionsSchema.parse({}) : value === false ? undefined : value))
  .meta({
    description:
      'Also take `multipart/form-data` POSTs (HTML forms, `curl -F`, Uppy XHRUpload) on the collection URL: each file part is stored as one finished upload under this endpoint\'s auth, policy, finalize and hooks. `true` for the defaults, or an object of options.',
  });

export type FormConfig = z.output<typeof FormOptionsSchema>;
