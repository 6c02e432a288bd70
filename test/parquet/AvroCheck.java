// AvroCheck — checks a parquet.avro.schema with Apache Avro's own Java library (Debian's
// libavro-java 1.8.2, the generation parquet-mr 1.10 used), for test/lib/readers.mjs.
//
//   java -cp <build dir>:<avro classpath> AvroCheck SCHEMA.json
//
// Parses the schema (Schema.Parser throws with a precise message on a bad one), then prints
// one line per field, depth first: "<path>\t<type>\t<optional>", where path uses "[]" for
// array items and "{}" for map values, type is the Avro type (with its logical type:
// long/timestamp-millis), optional is "null" when the field is a union with null. Last, for
// every array of records, the check parquet-mr's AvroRecordConverter.isElementType makes:
// is the element record compatible with the record of the list's repeated group ("list"
// with one field "element")? If it were, parquet-mr would read the repeated group as the
// element and every element as empty; "list-check ok" is printed when none is.
import java.io.File;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;

public class AvroCheck {
  static final List<String> bad = new ArrayList<>();

  static Schema nonNull(Schema s) {
    if (s.getType() != Schema.Type.UNION) return s;
    for (Schema b : s.getTypes()) if (b.getType() != Schema.Type.NULL) return b;
    return s;
  }

  static boolean optional(Schema s) {
    if (s.getType() != Schema.Type.UNION) return false;
    for (Schema b : s.getTypes()) if (b.getType() == Schema.Type.NULL) return true;
    return false;
  }

  static String typeName(Schema s) {
    String t = s.getType().getName();
    String logical = s.getProp("logicalType");
    return logical == null ? t : t + "/" + logical;
  }

  static void walk(String path, Schema schema) {
    Schema s = nonNull(schema);
    System.out.println(path + "\t" + typeName(s) + "\t" + (optional(schema) ? "null" : "required"));
    switch (s.getType()) {
      case RECORD:
        for (Schema.Field f : s.getFields()) walk(path.isEmpty() ? f.name() : path + "." + f.name(), f.schema());
        break;
      case ARRAY: {
        Schema item = nonNull(s.getElementType());
        if (item.getType() == Schema.Type.RECORD) listCheck(path, item, s.getElementType());
        walk(path + "[]", s.getElementType());
        break;
      }
      case MAP:
        walk(path + "{}", s.getValueType());
        break;
      default:
        break;
    }
  }

  // The record parquet-mr derives from the repeated group: record list { element }.
  static void listCheck(String path, Schema element, Schema elementWithNull) {
    Schema repeated = Schema.createRecord("list", null, null, false);
    List<Schema.Field> fields = new ArrayList<>();
    fields.add(new Schema.Field("element", elementWithNull, null, (Object) null));
    repeated.setFields(fields);
    SchemaCompatibility.SchemaCompatibilityType t =
        SchemaCompatibility.checkReaderWriterCompatibility(element, repeated).getType();
    if (t == SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE) bad.add(path);
  }

  public static void main(String[] args) throws Exception {
    Schema schema = new Schema.Parser().parse(new File(args[0]));
    if (schema.getType() != Schema.Type.RECORD) throw new IllegalStateException("the root is not a record");
    walk("", schema);
    if (!bad.isEmpty()) {
      System.out.println("list-check FAILED: parquet-mr would read the repeated group as the element of " + bad);
      System.exit(2);
    }
    System.out.println("list-check ok");
  }
}
