/*-------------------------------------------------------------------------
 *
 * slfuzz.c
 *		In-database fuzzing of the shredder (a test-only module, never shipped:
 *		test/e2e/fuzz.test.mjs builds it and creates its functions by path).
 *
 *	slfuzz_cases(seeds jsonb[], sources text[], seed int8, n int, hostile float8,
 *	             worker bool) RETURNS TABLE (i int, source text, event jsonb)
 *		n events made from the seed events (real OCSF samples and generated
 *		ones; seed k goes to sources[k]) by 1-4 mutations each: deep nesting in
 *		any column, huge strings (also ones that grow 2x or 6x on escaping),
 *		numbers at int32/int64/float/double edges, strings that read as JSON,
 *		unicode edge cases (surrogate pairs, "\\u0000" as text, escapes jsonb
 *		refuses), duplicate keys, wrong types at any level, huge arrays and
 *		maps, values that compress small and expand huge. `hostile` is the
 *		share of cases that get a huge value. Texts jsonb refuses are redrawn
 *		(and counted as refused at INSERT). worker=true keeps to forms a reader
 *		can compare exactly (no key-case changes, canonical date-times, events
 *		under 12 MiB). Every case gets a top-level "x_fuzz_case": i.
 *
 *	slfuzz_validate(seeds, sources, seed, n, hostile) RETURNS jsonb
 *		The same cases through securitylake.validate() (called through fmgr,
 *		as SQL would), counted server-side: cases, refused at insert, valid,
 *		reasons by their first words, the longest reason, and every reason
 *		that says an ERROR was contained ("could not encode"), with its case.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"
#include "utils/regproc.h"

PG_MODULE_MAGIC;

/* ---- a tiny DOM -------------------------------------------------------- */

typedef enum
{
	N_OBJ, N_ARR, N_STR, N_NUM, N_TRUE, N_FALSE, N_NULL, N_RAW	/* N_RAW: text written as is */
} NodeType;

typedef struct JNode
{
	NodeType	type;
	char	   *s;				/* string (unescaped), number text, raw text */
	int			len;
	int			n;				/* children */
	int			cap;
	char	  **keys;			/* objects */
	int		   *keylens;
	struct JNode **kids;
} JNode;

static uint64 rng;

static uint64
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * UINT64CONST(2685821657736338717);
}

static int
pick(int n)
{
	return (int) (rnd() % (uint64) n);
}

static bool
chance(double p)
{
	return (double) (rnd() >> 11) / (double) (UINT64CONST(1) << 53) < p;
}

static JNode *
node(NodeType t)
{
	JNode	   *x = palloc0(sizeof(JNode));

	x->type = t;
	return x;
}

static JNode *
str_node(const char *s, int len)
{
	JNode	   *x = node(N_STR);

	x->s = (char *) s;
	x->len = len;
	return x;
}

static JNode *
num_node(const char *text)
{
	JNode	   *x = node(N_NUM);

	x->s = pstrdup(text);
	x->len = strlen(text);
	return x;
}

static void
add_kid(JNode *parent, const char *key, int keylen, JNode *kid)
{
	if (parent->n == parent->cap)
	{
		parent->cap = Max(4, parent->cap * 2);
		parent->kids = parent->kids ? repalloc(parent->kids, sizeof(JNode *) * parent->cap) : palloc(sizeof(JNode *) * parent->cap);
		if (parent->type == N_OBJ)
		{
			parent->keys = parent->keys ? repalloc(parent->keys, sizeof(char *) * parent->cap) : palloc(sizeof(char *) * parent->cap);
			parent->keylens = parent->keylens ? repalloc(parent->keylens, sizeof(int) * parent->cap) : palloc(sizeof(int) * parent->cap);
		}
	}
	if (parent->type == N_OBJ)
	{
		parent->keys[parent->n] = (char *) key;
		parent->keylens[parent->n] = keylen;
	}
	parent->kids[parent->n++] = kid;
}

/* jsonb → DOM, iteratively (the iterator keeps the nesting) */
static JNode *
from_jsonb(Jsonb *jb)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	JNode	   *stack[256];
	int			depth = 0;
	JNode	   *root = NULL;
	char	   *key = NULL;
	int			keylen = 0;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		JNode	   *x = NULL;

		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
			case WJB_BEGIN_ARRAY:
				x = node(tok == WJB_BEGIN_OBJECT ? N_OBJ : N_ARR);
				if (depth > 0)
					add_kid(stack[depth - 1], key, keylen, x);
				else
					root = x;
				if (depth < 255)
					stack[depth++] = x;
				continue;
			case WJB_END_OBJECT:
			case WJB_END_ARRAY:
				depth--;
				continue;
			case WJB_KEY:
				key = pnstrdup(v.val.string.val, v.val.string.len);
				keylen = v.val.string.len;
				continue;
			default:
				break;
		}
		switch (v.type)
		{
			case jbvString:
				x = str_node(pnstrdup(v.val.string.val, v.val.string.len), v.val.string.len);
				break;
			case jbvNumeric:
				x = num_node(DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric))));
				break;
			case jbvBool:
				x = node(v.val.boolean ? N_TRUE : N_FALSE);
				break;
			default:
				x = node(N_NULL);
				break;
		}
		if (depth > 0)
			add_kid(stack[depth - 1], key, keylen, x);
		else
			root = x;
	}
	return root;
}

/* A copy of the tree's nodes (strings and keys are shared: mutations never write them). */
static JNode *
clone(JNode *x)
{
	JNode	   *c = palloc(sizeof(JNode));
	int			i;

	*c = *x;
	if (x->n > 0)
	{
		c->cap = x->n;
		c->kids = palloc(sizeof(JNode *) * x->n);
		for (i = 0; i < x->n; i++)
			c->kids[i] = clone(x->kids[i]);
		if (x->type == N_OBJ)
		{
			c->keys = palloc(sizeof(char *) * x->n);
			memcpy(c->keys, x->keys, sizeof(char *) * x->n);
			c->keylens = palloc(sizeof(int) * x->n);
			memcpy(c->keylens, x->keylens, sizeof(int) * x->n);
		}
	}
	else
	{
		c->cap = 0;
		c->kids = NULL;
		c->keys = NULL;
		c->keylens = NULL;
	}
	return c;
}

/* ---- hostile values ----------------------------------------------------- */

static bool worker_mode;

static const char *const edge_numbers[] = {
	"0", "-0", "-0.0", "1", "-1", "127", "128", "-129", "32767", "32768", "-32769",
	"2147483647", "2147483648", "-2147483648", "-2147483649",
	"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
	"18446744073709551616", "123456789012345678901234567890",
	"1.5", "0.1", "5.0", "1e5", "1E-5", "2.5e-3", "1.7976931348623157e308", "5e-324", "2.2250738585072014e-308",
	"3.4028234663852886e38", "3.5e38", "1e308", "1e309", "1e-400", "-1e400",
	"631152000000", "7258118400000", "7258118400001", "1732752000000", "1732752000.5",
	"0.0000000000000000000000000000001", "100000000000000000000000000000000000000000000000000"
};

static const char *const json_looking[] = {
	"42", "-0", "true", "false", "null", "[]", "{}", "[1,2]", "{\"a\":1}", "\"x\"", " null ", "1e5",
	"01", "[", "{", "]", "{\"a\":}", "tru", "nul", "1.", ".5", "-", "+1", "0x10", "NaN", "Infinity",
	"[1,]", "{\"a\":1,}", "\"unterminated", "\"\\u0000\"", "\"\\ud800\"", "[[[[[[[[[[[[]]]]]]]]]]]]",
	"\"\\\\\"", "{\"a\":[{\"b\":null}]}", "1 2", "true false", "\t\n 7 \r"
};

static const char *const unicode_strings[] = {
	"é", "日本語", "🦆", "\xF0\x9F\x98\x80", "a\u200Db", "\u202Eevil", "e\xCC\x81", "\\u0000", "\\ud800",
	"\"quoted\"", "back\\slash", "tab\tnewline\n", "\x01\x02\x1f", "", " ", "$.x", "$", "[0]", "a.b", "\"", "'"
};

static JNode *gen_value(int budget);

static JNode *
big_string(void)
{
	/* sizes around the 1 MiB page limit and past it; kinds that grow on escaping */
	static const int sizes[] = {1000, 65536, 174762, 349525, 524288, 1047000, 1047552, 1047553, 1048576, 2000000};
	int			len = sizes[pick(lengthof(sizes))];
	int			kind = pick(5);
	char	   *s;
	int			i;

	/* the kinds that grow 2x or 6x on escaping stay near the limit they test */
	if ((kind == 1 || kind == 2) && len > 1048576)
		len = 1048576;
	s = palloc(len + 1);
	for (i = 0; i < len; i++)
		s[i] = kind == 0 ? 'a' : kind == 1 ? "\x01\x1f\n"[i % 3] : kind == 2 ? "\"\\"[i % 2] :
			kind == 3 ? 'a' + (char) pick(26) : "[{"[i % 2];
	s[len] = '\0';
	return str_node(s, len);
}

static JNode *
deep(int depth, bool objects)
{
	JNode	   *root = node(objects ? N_OBJ : N_ARR);
	JNode	   *cur = root;
	int			i;

	for (i = 1; i < depth; i++)
	{
		JNode	   *x = node(objects ? N_OBJ : N_ARR);

		add_kid(cur, "a", 1, x);
		cur = x;
	}
	add_kid(cur, "leaf", 4, num_node("1"));
	return root;
}

static JNode *
huge_container(bool object)
{
	static const int sizes[] = {1000, 10000, 100000};
	int			n = sizes[pick(lengthof(sizes))];
	JNode	   *x = node(object ? N_OBJ : N_ARR);
	int			i;

	for (i = 0; i < n; i++)
	{
		JNode	   *v = pick(3) == 0 ? num_node(edge_numbers[pick(lengthof(edge_numbers))]) :
			str_node(psprintf("v%d", i), strlen(psprintf("v%d", i)));

		if (object)
		{
			char	   *k = psprintf("k%d", i);

			add_kid(x, k, strlen(k), v);
		}
		else
			add_kid(x, NULL, 0, v);
	}
	return x;
}

static JNode *
hostile_value(void)
{
	static const int depths[] = {10, 62, 63, 64, 65, 100, 1000};

	switch (pick(4))
	{
		case 0:
			return big_string();
		case 1:
			return deep(depths[pick(lengthof(depths))], pick(2));
		case 2:
			return huge_container(pick(2));
		default:
			{
				/* compresses small, expands huge: 8 MiB (worker: 4 MiB) of one byte */
				int			len = worker_mode ? 4 << 20 : 8 << 20;
				char	   *s = palloc(len + 1);

				memset(s, 'a', len);
				s[len] = '\0';
				return str_node(s, len);
			}
	}
}

static JNode *
date_time(void)
{
	static const char *const good[] = {
		"2024-02-29T00:00:00Z", "2024-11-28T12:34:56.789Z", "2024-11-28T12:34:56+02:00", "2000-01-01T00:00:00Z"
	};
	static const char *const bad[] = {
		"2024-02-31T00:00:00Z", "2023-02-29T00:00:00Z", "+024-01-01T00:00:00Z", "2024-01-01T-1:-1:-1Z",
		"2024-01-01T00:00:00", "2024-01-01T24:00:00Z", "2024-01-01T00:00:60Z", "2024-12-31T23:59:60Z",
		"2024-01-01T00:00:00+24:00", "2024-01-01t00:00:00z", "2024-01-01 00:00:00Z", "2024-01-01T00:00:00.Z",
		"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z"
	};
	const char *s = !worker_mode && pick(2) ? bad[pick(lengthof(bad))] : chance(0.5) ? good[pick(lengthof(good))] : bad[pick(7)];

	return str_node(s, strlen(s));
}

static JNode *
gen_value(int budget)
{
	int			k = pick(budget > 0 ? 11 : 8);

	switch (k)
	{
		case 0:
			return num_node(edge_numbers[pick(lengthof(edge_numbers))]);
		case 1:
			{
				const char *s = json_looking[pick(lengthof(json_looking))];

				return str_node(s, strlen(s));
			}
		case 2:
			{
				const char *s = unicode_strings[pick(lengthof(unicode_strings))];

				return str_node(s, strlen(s));
			}
		case 3:
			return node(pick(2) ? N_TRUE : N_FALSE);
		case 4:
			return node(N_NULL);
		case 5:
			return date_time();
		case 6:
			{
				char	   *s = psprintf("s%d", pick(1000));

				return str_node(s, strlen(s));
			}
		case 7:
			if (pick(4) != 0)
				return num_node(edge_numbers[pick(lengthof(edge_numbers))]);
			{
				/* escapes jsonb refuses, written raw: the case is redrawn */
				JNode	   *x = node(N_RAW);

				x->s = pick(2) ? "\"a\\u0000b\"" : "\"\\udc00\"";
				x->len = strlen(x->s);
				return x;
			}
		case 8:
		case 9:
			{
				JNode	   *x = node(k == 8 ? N_OBJ : N_ARR);
				int			n = pick(4);
				int			i;

				for (i = 0; i < n; i++)
				{
					char	   *key = psprintf("%s%d", pick(3) ? "f" : "x-", i);

					add_kid(x, key, strlen(key), gen_value(budget - 1));
				}
				return x;
			}
		default:
			return deep(2 + pick(5), pick(2));
	}
}

/* ---- mutations ---------------------------------------------------------- */

/* A random container of the tree (walks down from the root). */
static JNode *
random_container(JNode *root, JNode **parent_out, int *index_out)
{
	JNode	   *cur = root;
	JNode	   *parent = NULL;
	int			index = -1;
	int			steps = pick(5);

	while (steps-- > 0 && cur->n > 0)
	{
		int			i = pick(cur->n);
		JNode	   *kid = cur->kids[i];

		if (kid->type != N_OBJ && kid->type != N_ARR)
			break;
		parent = cur;
		index = i;
		cur = kid;
	}
	*parent_out = parent;
	*index_out = index;
	return cur;
}

static void
mutate(JNode *root, double hostile)
{
	JNode	   *parent;
	int			index;
	JNode	   *c = random_container(root, &parent, &index);
	int			what = pick(worker_mode ? 6 : 7);

	switch (what)
	{
		case 0:					/* replace a value */
		case 1:
			if (c->n > 0)
			{
				int			i = pick(c->n);

				c->kids[i] = chance(hostile) ? hostile_value() : gen_value(2);
				break;
			}
			/* FALLTHROUGH */
		case 2:					/* add a key (vendor field → unmapped) or an element */
			{
				char	   *key = psprintf("%s_%d", pick(2) ? "x_vendor" : "unmapped", pick(100));

				if (c->type == N_OBJ && pick(4) == 0)
					key = pick(2) ? "unmapped" : (char *) unicode_strings[pick(lengthof(unicode_strings))];
				add_kid(c, key, strlen(key), chance(hostile) ? hostile_value() : gen_value(2));
			}
			break;
		case 3:					/* delete one */
			if (c->n > 0)
			{
				int			i = pick(c->n);

				memmove(&c->kids[i], &c->kids[i + 1], sizeof(JNode *) * (c->n - i - 1));
				if (c->type == N_OBJ)
				{
					memmove(&c->keys[i], &c->keys[i + 1], sizeof(char *) * (c->n - i - 1));
					memmove(&c->keylens[i], &c->keylens[i + 1], sizeof(int) * (c->n - i - 1));
				}
				c->n--;
			}
			break;
		case 4:					/* the wrong type for a whole container */
			if (parent != NULL)
				parent->kids[index] = gen_value(1);
			break;
		case 5:					/* a duplicate key: a junk value first, the real one last */
			if (c->type == N_OBJ && c->n > 0)
			{
				int			i = pick(c->n);
				JNode	   *real = c->kids[i];
				char	   *key = c->keys[i];
				int			keylen = c->keylens[i];

				c->kids[i] = gen_value(1);
				add_kid(c, key, keylen, real);
			}
			break;
		default:				/* a key in another case (columns match case-insensitively) */
			if (c->type == N_OBJ && c->n > 0)
			{
				int			i = pick(c->n);
				char	   *k = pnstrdup(c->keys[i], c->keylens[i]);

				if (k[0] >= 'a' && k[0] <= 'z')
					k[0] -= 'a' - 'A';
				c->keys[i] = k;
			}
			break;
	}
}

/* ---- serialising -------------------------------------------------------- */

static void
put_string(StringInfo out, const char *s, int len)
{
	int			i;

	appendStringInfoChar(out, '"');
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
		{
			appendStringInfoChar(out, '\\');
			appendStringInfoChar(out, (char) c);
		}
		else if (c < 0x20)
			appendStringInfo(out, "\\u%04x", c);
		else
			appendStringInfoChar(out, (char) c);
	}
	appendStringInfoChar(out, '"');
}

static void
serialise(StringInfo out, JNode *x)
{
	int			i;

	check_stack_depth();
	switch (x->type)
	{
		case N_OBJ:
			appendStringInfoChar(out, '{');
			for (i = 0; i < x->n; i++)
			{
				if (i)
					appendStringInfoChar(out, ',');
				put_string(out, x->keys[i], x->keylens[i]);
				appendStringInfoChar(out, ':');
				serialise(out, x->kids[i]);
			}
			appendStringInfoChar(out, '}');
			break;
		case N_ARR:
			appendStringInfoChar(out, '[');
			for (i = 0; i < x->n; i++)
			{
				if (i)
					appendStringInfoChar(out, ',');
				serialise(out, x->kids[i]);
			}
			appendStringInfoChar(out, ']');
			break;
		case N_STR:
			put_string(out, x->s, x->len);
			break;
		case N_NUM:
		case N_RAW:
			appendBinaryStringInfo(out, x->s, x->len);
			break;
		case N_TRUE:
			appendStringInfoString(out, "true");
			break;
		case N_FALSE:
			appendStringInfoString(out, "false");
			break;
		case N_NULL:
			appendStringInfoString(out, "null");
			break;
	}
}

/* ---- cases -------------------------------------------------------------- */

typedef struct Fuzz
{
	int			nseeds;
	Jsonb	  **seeds;
	JNode	  **trees;			/* the seeds as trees, built once */
	char	  **sources;
	double		hostile;
	MemoryContext case_cxt;
	int64		refused;		/* texts jsonb refused (redrawn) */
} Fuzz;

static void
fuzz_init(Fuzz *f, ArrayType *seeds, ArrayType *sources, int64 seed, double hostile, bool worker)
{
	Datum	   *d;
	bool	   *nulls;
	int			n,
				i;

	deconstruct_array(seeds, JSONBOID, -1, false, TYPALIGN_INT, &d, &nulls, &n);
	f->nseeds = n;
	f->seeds = palloc(sizeof(Jsonb *) * n);
	f->trees = palloc(sizeof(JNode *) * n);
	for (i = 0; i < n; i++)
	{
		f->seeds[i] = DatumGetJsonbP(d[i]);
		f->trees[i] = from_jsonb(f->seeds[i]);
	}
	deconstruct_array(sources, TEXTOID, -1, false, TYPALIGN_INT, &d, &nulls, &n);
	if (n != f->nseeds || n == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("one source per seed event, at least one")));
	f->sources = palloc(sizeof(char *) * n);
	for (i = 0; i < n; i++)
		f->sources[i] = TextDatumGetCString(d[i]);
	f->hostile = hostile;
	f->refused = 0;
	worker_mode = worker;
	rng = (uint64) seed * UINT64CONST(0x9E3779B97F4A7C15) + 1;
	f->case_cxt = AllocSetContextCreate(CurrentMemoryContext, "slfuzz case", ALLOCSET_DEFAULT_SIZES);
}

/* Case i: an event (palloc'd in the caller's context) and its seed's source. */
static Jsonb *
fuzz_case(Fuzz *f, int i, char **source)
{
	MemoryContext caller = CurrentMemoryContext;

	for (;;)
	{
		int			s = pick(f->nseeds);
		int			m = 1 + pick(4);
		JNode	   *root;
		StringInfoData text;
		Jsonb	   *volatile result = NULL;

		MemoryContextReset(f->case_cxt);
		MemoryContextSwitchTo(f->case_cxt);
		root = clone(f->trees[s]);
		while (m-- > 0 && (root->type == N_OBJ || root->type == N_ARR))
			mutate(root, f->hostile);
		if (root->type == N_OBJ)
			add_kid(root, "x_fuzz_case", 11, num_node(psprintf("%d", i)));
		initStringInfo(&text);
		serialise(&text, root);
		if (worker_mode && text.len > 12 * 1024 * 1024)
		{
			MemoryContextSwitchTo(caller);
			continue;
		}
		MemoryContextSwitchTo(caller);
		PG_TRY();
		{
			result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text.data)));
		}
		PG_CATCH();
		{
			/* what a producer's INSERT would be refused for (NUL escapes, lone surrogates, depth) */
			MemoryContextSwitchTo(caller);
			FlushErrorState();
			result = NULL;
		}
		PG_END_TRY();
		if (result != NULL)
		{
			*source = f->sources[s];
			return result;
		}
		f->refused++;
	}
}

PG_FUNCTION_INFO_V1(slfuzz_cases);
Datum
slfuzz_cases(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Fuzz		f;
	int			n = PG_GETARG_INT32(3);
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	fuzz_init(&f, PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_ARRAYTYPE_P(1), PG_GETARG_INT64(2),
			  PG_GETARG_FLOAT8(4), PG_GETARG_BOOL(5));
	for (i = 0; i < n; i++)
	{
		char	   *source;
		Jsonb	   *event = fuzz_case(&f, i, &source);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int32GetDatum(i);
		values[1] = CStringGetTextDatum(source);
		values[2] = JsonbPGetDatum(event);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		pfree(event);
	}
	return (Datum) 0;
}

/* The first words of a reason, for counting: "expected integer at x" → "expected integer". */
static char *
reason_kind(const char *reason)
{
	const char *at = strstr(reason, " at ");
	const char *paren = strchr(reason, '(');
	int			len = strlen(reason);

	if (at && at - reason < len)
		len = at - reason;
	if (paren && paren - reason < len)
		len = paren - reason;
	while (len > 0 && reason[len - 1] == ' ')
		len--;
	return pnstrdup(reason, Min(len, 60));
}

PG_FUNCTION_INFO_V1(slfuzz_validate);
Datum
slfuzz_validate(PG_FUNCTION_ARGS)
{
	Fuzz		f;
	int			n = PG_GETARG_INT32(3);
	Oid			validate_oid;
	FmgrInfo	flinfo;
	StringInfoData out;
	StringInfoData contained;
	int64		valid = 0;
	int			longest = 0;
	int			ncontained = 0;
	int			i;
	HASHCTL		ctl;
	HTAB	   *kinds;
	HASH_SEQ_STATUS seq;
	struct KindCount
	{
		char		kind[64];
		int64		n;
	}		   *kc;
	MemoryContext call_cxt = AllocSetContextCreate(CurrentMemoryContext, "slfuzz call", ALLOCSET_DEFAULT_SIZES);

	fuzz_init(&f, PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_ARRAYTYPE_P(1), PG_GETARG_INT64(2),
			  PG_GETARG_FLOAT8(4), false);
	validate_oid = DatumGetObjectId(DirectFunctionCall1(regprocedurein,
														CStringGetDatum("securitylake.validate(jsonb,text)")));
	fmgr_info(validate_oid, &flinfo);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = 64;
	ctl.entrysize = sizeof(struct KindCount);
	kinds = hash_create("slfuzz reasons", 64, &ctl, HASH_ELEM | HASH_STRINGS);
	initStringInfo(&contained);
	for (i = 0; i < n; i++)
	{
		MemoryContext old;
		char	   *source;
		Jsonb	   *event;
		Datum		r;
		LOCAL_FCINFO(call, 2);

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(call_cxt);
		old = MemoryContextSwitchTo(call_cxt);
		event = fuzz_case(&f, i, &source);
		InitFunctionCallInfoData(*call, &flinfo, 2, InvalidOid, NULL, NULL);
		call->args[0].value = JsonbPGetDatum(event);
		call->args[0].isnull = false;
		call->args[1].value = CStringGetTextDatum(source);
		call->args[1].isnull = false;
		r = FunctionCallInvoke(call);
		MemoryContextSwitchTo(old);
		if (call->isnull)
			valid++;
		else
		{
			char	   *reason = TextDatumGetCString(r);
			char	   *kind = reason_kind(reason);
			char		key[64] = {0};
			bool		found;

			strlcpy(key, kind, sizeof(key));
			kc = hash_search(kinds, key, HASH_ENTER, &found);
			if (!found)
				kc->n = 0;
			kc->n++;
			longest = Max(longest, (int) strlen(reason));
			if (strncmp(reason, "could not encode", 16) == 0 && ncontained++ < 20)
			{
				if (contained.len)
					appendStringInfoChar(&contained, ',');
				appendStringInfo(&contained, "{\"case\": %d, \"source\": ", i);
				escape_json(&contained, source);
				appendStringInfoString(&contained, ", \"reason\": ");
				escape_json(&contained, reason);
				appendStringInfoChar(&contained, '}');
			}
		}
	}
	initStringInfo(&out);
	appendStringInfo(&out, "{\"cases\": %d, \"refused_at_insert\": " INT64_FORMAT ", \"valid\": " INT64_FORMAT
					 ", \"longest_reason\": %d, \"contained\": %d, \"contained_cases\": [%s], \"reasons\": {",
					 n, f.refused, valid, longest, ncontained, contained.data);
	hash_seq_init(&seq, kinds);
	i = 0;
	while ((kc = hash_seq_search(&seq)) != NULL)
	{
		if (i++)
			appendStringInfoString(&out, ", ");
		escape_json(&out, kc->kind);
		appendStringInfo(&out, ": " INT64_FORMAT, kc->n);
	}
	appendStringInfoString(&out, "}}");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}
